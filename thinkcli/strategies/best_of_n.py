"""`best-of-n`: N samples, each scored by a verifier, the best one kept.

Cobbe et al. 2021, "Training Verifiers to Solve Math Word Problems";
Brown et al. 2024, "Large Language Monkeys: Scaling Inference Compute with Repeated Sampling".

With a pass/fail verifier (the user's command) samples are drawn one at a time
and the search stops at the first that passes; with a graded verifier (a judge)
or none all N are drawn together and the best score wins: with no verifier the
score is the inverse perplexity (exp of the mean token log-prob), or the final
choice follows ``plan.select`` (``--select``, thinkcli/select.py) when one is set.
"""

from __future__ import annotations

from thinkcli.strategies.base import Candidate, Outcome, Plan, Problem, apply_select
from thinkcli.strategies.scoring import (
    anytime,
    blind_note,
    default_verifier,
    outcome_of,
    scored_candidate,
)


def best_of_n(problem: Problem, plan: Plan, meter, verifier, sink) -> Outcome:
    checker = default_verifier(verifier)
    messages = problem.messages(plan.prompt_style)
    cands: list[Candidate] = []
    notes: list[str] = []

    def judged(gen) -> Candidate:
        cand = scored_candidate(checker, problem.question, gen, sink, plan.prompt_style)
        cands.append(cand)
        return cand

    with anytime(lambda: outcome_of(cands, notes)):
        if checker.pass_fail:
            for i in range(plan.samples):
                [gen] = meter.draw(messages, plan.params(), 1, label=f"sample {i + 1}/{plan.samples}")
                if judged(gen).verdict.passed:
                    notes.append(f"sample {i + 1} of {plan.samples} passed {checker.name}; stopped early")
                    break
            else:
                notes.append(f"no sample passed {checker.name}")
        else:
            for gen in meter.draw(messages, plan.params(), plan.samples, label="best-of-n"):
                judged(gen)
    if verifier is None and plan.select:
        picked, selection = apply_select(plan.select, cands, sink, notes, key=problem.key)
        return Outcome(picked.answer if picked else None, cands, chosen=picked.sample if picked else None,
                       notes=notes, selection=selection)
    notes.extend(blind_note(cands))
    outcome = outcome_of(cands, notes)
    if verifier is None:
        outcome.selection = {"rule": "best:inverse-perplexity", "weights": _best_scores(cands)}
    return outcome


def _best_scores(cands: list[Candidate]) -> dict[str, float]:
    """Each answer's best score, as ``--json`` reports a rule's weights."""
    out: dict[str, float] = {}
    for c in cands:
        if c.answer is not None and c.score is not None:
            out[c.answer] = max(out.get(c.answer, 0.0), round(c.score, 6))
    return out
