"""`vote`: self-consistency with adaptive stopping.

Wang et al. 2022, "Self-Consistency Improves Chain of Thought Reasoning in
Language Models"; Aggarwal et al. 2023, "Let's Sample Step by Step:
Adaptive-Consistency for Efficient Reasoning and Coding with LLMs".

Samples are drawn in small rounds at temperature > 0; each sample's final
answer is normalised and voted; ties go to the higher mean token log-probability.
After every round the vote stops early when the leader cannot be overtaken by
the samples left, or when its posterior probability of being the majority passes
``plan.confidence``; where a plan (a calibrated profile) turns them on, also when
the last ``plan.esc_window`` samples agree (ESC, Li et al. 2024) or (futility)
when enough samples answered and no two agree. With ``plan.online_warmup`` the
first samples set a DeepConf online threshold (Fu et al. 2025) and later samples
whose group confidence falls below it are stopped by the backend and do not vote.
``plan.select`` picks the final answer by any rule of thinkcli/select.py.
The loop state is a ``ballot.Ballot``; ``auto`` reuses it.
"""

from __future__ import annotations

from thinkcli.meter import BudgetExhausted
from thinkcli.strategies.ballot import Ballot, anytime, run_ballot
from thinkcli.strategies.base import Outcome, Plan, Problem
from thinkcli.strategies.escalate import escalate_with_verifier

__all__ = ["Ballot", "vote"]  # Ballot: where callers have long found it


def vote(problem: Problem, plan: Plan, meter, verifier, sink) -> Outcome:
    ballot = Ballot.for_plan(plan, futility=plan.futility, key=problem.key)
    notes: list[str] = []
    if plan.temperature <= 0 and plan.samples > 1:
        notes.append("temperature 0: the samples will all agree")
    try:
        reason = run_ballot(problem, plan, meter, sink, ballot, plan.samples, notes=notes)
    except (BudgetExhausted, KeyboardInterrupt) as stop:
        anytime(ballot, notes, stop)
        raise
    notes.append(f"stopped after {ballot.drawn} of {plan.samples} samples: {reason}")
    stopped = sum(c.finish_reason == "low-confidence" for c in ballot.candidates)
    if stopped:
        notes.append(f"DeepConf online stopped {stopped} unsure sample(s); they do not vote")
    if ballot.leader() is None:
        notes.append("no sample gave an answer to vote on")
    outcome = ballot.outcome(notes, sink)
    if verifier is not None and plan.then:
        return escalate_with_verifier(problem, plan, meter, verifier, sink, ballot, outcome)
    return outcome
