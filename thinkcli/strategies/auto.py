"""`auto`: adaptive compute, cheap first and more only while the answer is uncertain.

Snell et al. 2024, "Scaling LLM Test-Time Compute Optimally can be More Effective
than Scaling Model Parameters": spend test-time compute according to how hard the
question looks. The difficulty estimate here is the agreement of a small probe:

1. ``probe``: two samples (``plan.extra["probe"]``); if they agree, that is the answer.
   A calibrated profile can make "easy" stricter: the probe must also be confident,
   its mean ``plan.extra["easy_signal"]`` at least ``plan.extra["easy_threshold"]``
   (the difficulty estimate from agreement and confidence). With ``plan.extra["probe_greedy"]``
   the probe's first sample is the greedy (temperature-0) reply, the model's single most
   likely answer, and the rest are sampled: easy means the samples agree with it.
2. ``vote``: more samples in small rounds (adaptive self-consistency) until the
   leader is confident or cannot be overtaken, up to ``plan.samples``. Unlike
   ``vote``, no futility stop: scattered answers are the doubt auto spends on.
3. ``verify`` (only with a verifier): check the leading answers; if none passes,
   ``best-of-n`` on fresh samples, then ``refine`` (``escalate``).

Each step is announced with ``RoundStarted`` so the live view shows the path.
"""

from __future__ import annotations

from dataclasses import replace

from thinkcli.events import RoundStarted
from thinkcli.meter import BudgetExhausted
from thinkcli.strategies.ballot import Ballot, anytime, draw_round, run_ballot
from thinkcli.strategies.base import Outcome, Plan, Problem
from thinkcli.strategies.escalate import escalate_with_verifier

# Samples drawn before deciding whether the question is easy. Measured on the embedded
# model (arith, temperatures 0.2/0.4/0.7): a probe of 2 never cost accuracy against 3
# and saved 5-12% of the tokens.
PROBE = 2


def unanimous(ballot: Ballot) -> bool:
    """Every sample drawn answered, and all answers agree (at least two of them)."""
    buckets = ballot.buckets
    return len(buckets) == 1 and buckets[0].count == ballot.drawn >= 2


def easy(ballot: Ballot, plan: Plan) -> tuple[bool, str]:
    """Whether the probe says the question is easy, and why (agreement, then confidence)."""
    if not unanimous(ballot):
        return False, "the probe samples disagree"
    signal, threshold = plan.extra.get("easy_signal"), plan.extra.get("easy_threshold")
    if not signal or threshold is None:
        return True, f"the {ballot.drawn} probe samples agree"
    values = [c.signals.get(signal) for c in ballot.candidates]  # to_candidate read them: signals.of_generation
    if any(v is None for v in values):
        return True, f"the {ballot.drawn} probe samples agree (no {signal} to check)"
    mean = sum(values) / len(values)
    if mean >= threshold:
        return True, f"the {ballot.drawn} probe samples agree, mean {signal} {mean:.3g} >= {threshold:.3g}"
    return False, f"the probe agrees but is unsure: mean {signal} {mean:.3g} < {threshold:.3g}"


def auto(problem: Problem, plan: Plan, meter, verifier, sink) -> Outcome:
    ballot = Ballot.for_plan(plan, futility=False, key=problem.key)  # auto escalates while unsure; it does not give up
    notes: list[str] = []
    probe = max(1, min(int(plan.extra.get("probe", PROBE)), plan.samples))
    try:
        greedy = bool(plan.extra.get("probe_greedy"))
        sink.emit(RoundStarted(f"probe: greedy + {probe - 1}" if greedy else f"probe ×{probe}"))
        notes.append(f"probe: {probe} samples" + (", the first greedy" if greedy else ""))
        if greedy:
            draw_round(problem, replace(plan, temperature=0.0), meter, sink, ballot, 1, label="probe", notes=notes)
        if probe > greedy:
            draw_round(problem, plan, meter, sink, ballot, probe - greedy, label="probe", notes=notes)
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
