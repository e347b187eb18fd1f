"""`auto`: adaptive compute, cheap first and more only while the answer is uncertain.

Snell et al. 2024, "Scaling LLM Test-Time Compute Optimally can be More Effective
than Scaling Model Parameters": spend test-time compute according to how hard the
question looks. The difficulty estimate here is the agreement of a small probe:

1. ``probe``: two samples (``plan.extra["probe"]``); if they agree, that is the answer.
   A calibrated profile can make "easy" stricter: the probe must also be confident,
   its mean ``plan.extra["easy_signal"]`` at least ``plan.extra["easy_threshold"]``
   (the difficulty estimate from agreement and confidence).
2. ``vote``: more samples in small rounds (adaptive self-consistency) until the
   leader is confident or cannot be overtaken, up to ``plan.samples``. Unlike
   ``vote``, no futility stop: scattered answers are the doubt auto spends on.
3. ``verify`` (only with a verifier): check the leading answers; if none passes,
   ``best-of-n`` on fresh samples, then ``refine``, through ``strategies.get``.

Each step is announced with ``RoundStarted`` so the live view shows the path.
"""

from __future__ import annotations

import math
from dataclasses import replace

from thinkcli import strategies
from thinkcli.engine import BudgetExhausted
from thinkcli.errors import UsageError
from thinkcli.events import RoundStarted, VerifyDone, VerifyStarted
from thinkcli.strategies import voting
from thinkcli.strategies.base import Candidate, Outcome, Plan, Problem
from thinkcli.strategies.vote import Ballot, anytime, draw_round, representative, run_ballot
from thinkcli.verify import base as vbase

# Samples drawn before deciding whether the question is easy. Measured on the embedded
# model (arith, temperatures 0.2/0.4/0.7): a probe of 2 never cost accuracy against 3
# and saved 5-12% of the tokens.
PROBE = 2
CHECK_TOP = 3  # leading answers checked by the verifier before drawing new ones


def unanimous(ballot: Ballot) -> bool:
    """Every sample drawn answered, and all answers agree (at least two of them)."""
    buckets = ballot.buckets
    return len(buckets) == 1 and buckets[0].count == ballot.drawn >= 2


def signal_of(cand: Candidate, name: str) -> float | None:
    """A candidate's confidence signal; mean-logprob and inverse-perplexity also from its log-probs."""
    value = (getattr(cand, "signals", None) or {}).get(name)
    if value is None and cand.mean_logprob is not None:
        value = {"mean-logprob": cand.mean_logprob, "inverse-perplexity": math.exp(cand.mean_logprob)}.get(name)
    return value


def easy(ballot: Ballot, plan: Plan) -> tuple[bool, str]:
    """Whether the probe says the question is easy, and why (agreement, then confidence)."""
    if not unanimous(ballot):
        return False, "the probe samples disagree"
    signal, threshold = plan.extra.get("easy_signal"), plan.extra.get("easy_threshold")
    if not signal or threshold is None:
        return True, f"the {ballot.drawn} probe samples agree"
    values = [signal_of(c, signal) for c in ballot.candidates]
    if any(v is None for v in values):
        return True, f"the {ballot.drawn} probe samples agree (no {signal} to check)"
    mean = sum(values) / len(values)
    if mean >= threshold:
        return True, f"the {ballot.drawn} probe samples agree, mean {signal} {mean:.3g} >= {threshold:.3g}"
    return False, f"the probe agrees but is unsure: mean {signal} {mean:.3g} < {threshold:.3g}"


def auto(problem: Problem, plan: Plan, meter, verifier, sink) -> Outcome:
    ballot = Ballot.for_plan(plan, futility=False)  # auto escalates while unsure; it does not give up
    notes: list[str] = []
    probe = max(1, min(int(plan.extra.get("probe", PROBE)), plan.samples))
    try:
        sink.emit(RoundStarted(f"probe ×{probe}"))
        notes.append(f"probe: {probe} samples")
        draw_round(problem, plan, meter, sink, ballot, probe, label="probe", notes=notes)
        settled, why = easy(ballot, plan)
        if settled:
            notes.append(f"{why}; stopped")
        elif ballot.drawn < plan.samples:
            notes.append(why)
            sink.emit(RoundStarted(f"vote ≤{plan.samples}"))
            reason = run_ballot(problem, plan, meter, sink, ballot, plan.samples, notes=notes)
            notes.append(f"vote: stopped after {ballot.drawn} of {plan.samples} samples: {reason}")
        else:
            notes.append(f"probe used the whole budget of {plan.samples} samples")
    except (BudgetExhausted, KeyboardInterrupt) as stop:
        anytime(ballot, notes, stop)
        raise
    if ballot.leader() is None:
        notes.append("no sample gave an answer to vote on")
    outcome = ballot.outcome(notes, sink)
    confident = outcome.confidence is not None and outcome.confidence >= plan.confidence
    if verifier is not None and not (confident and not verifier.pass_fail):
        return escalate_with_verifier(problem, plan, meter, verifier, sink, ballot, outcome)
    return outcome


def _check(verifier, question: str, cand: Candidate, sink) -> vbase.Verdict:
    sink.emit(VerifyStarted(cand.sample))
    verdict = verifier.score(vbase.Candidate(cand.sample, question, cand.text, cand.answer, cand.mean_logprob))
    cand.verdict, cand.score = verdict, verdict.score
    sink.emit(VerifyDone(cand.sample, verdict))
    return verdict


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
            verdict = _check(verifier, problem.question, rep, sink)
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
