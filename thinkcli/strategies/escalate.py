"""Escalation once a vote has run and a verifier is given (``auto``, and ``vote`` at effort high).

Snell et al. 2024: spend more only where the cheap answer is in doubt. The leading
answers are checked first; if none passes, ``best-of-n`` on fresh samples, then
``refine``, each looked up in the strategy table.
"""

from __future__ import annotations

from dataclasses import replace

from thinkcli import strategies
from thinkcli.candidate import Candidate
from thinkcli.errors import UsageError
from thinkcli.events import RoundStarted
from thinkcli.meter import BudgetExhausted
from thinkcli.strategies import scoring, voting
from thinkcli.strategies.ballot import Ballot, representative
from thinkcli.strategies.base import Outcome, Plan, Problem

CHECK_TOP = 3  # leading answers checked by the verifier before drawing new ones


def escalate_with_verifier(problem: Problem, plan: Plan, meter, verifier, sink, ballot: Ballot,
                           outcome: Outcome) -> Outcome:
    """Check the leading answers; if none passes, best-of-n then refine (whatever exists).

    A pass/fail verifier decides: the first candidate that passes is the answer.
    A graded verifier (judge, inverse perplexity) reweights the vote: each answer's
    votes times its representative's score.
    """
    notes = list(outcome.notes)
    extra: list[Candidate] = []

    def done(answer_from: Candidate | None, why: str) -> Outcome:
        notes.append(why)
        result = replace(outcome, candidates=[*ballot.candidates, *extra], notes=notes)
        if answer_from is not None:
            result.answer, result.chosen = answer_from.answer, answer_from.sample
        return result

    try:
        sink.emit(RoundStarted("verify"))
        leaders = voting.ranked(ballot.buckets)[:CHECK_TOP]
        by_sample = {c.sample: c for c in ballot.candidates}
        reps = [by_sample[representative(b, ballot.candidates)] for b in leaders]
        weighted: list[tuple[float, Candidate]] = []
        for bucket, rep in zip(leaders, reps, strict=True):
            verdict = scoring.score(verifier, problem.question, rep, sink)
            if verdict.passed:
                return done(rep, f"verify: {rep.answer!r} passed {verifier.name}")
            weighted.append((bucket.count * verdict.score, rep))
        if not verifier.pass_fail:
            if weighted:
                score, rep = max(weighted, key=lambda sw: sw[0])
                return done(rep, f"verify: {verifier.name} reweighted the vote; {rep.answer!r} leads")
            notes.append(f"verify: nothing to score with {verifier.name}")
        for name in dict.fromkeys([plan.then or "best-of-n", "refine"]):
            try:
                strategy = strategies.get(name)
            except UsageError:
                notes.append(f"{name} is not available; skipped")
                continue
            sink.emit(RoundStarted(name))
            sub_plan = replace(plan, samples=int(plan.extra.get("verify_samples", 4)), then=None)
            sub = strategy(problem, sub_plan, meter, verifier, sink)
            extra.extend(sub.candidates)
            picked = next((c for c in sub.candidates if c.sample == sub.chosen), None)
            if picked is not None and picked.verdict is not None and picked.verdict.passed:
                return done(picked, f"{name}: {picked.answer!r} passed {verifier.name}")
            if not verifier.pass_fail and picked is not None:
                return done(picked, f"{name}: best by {verifier.name}")
            notes.append(f"{name}: nothing passed {verifier.name}")
    except (BudgetExhausted, KeyboardInterrupt) as stop:
        stop.outcome = done(None, "stopped during verification; keeping the vote's answer")
        raise
    return done(None, f"no candidate passed {verifier.name}; keeping the vote's answer")
