"""`cot`: one chain-of-thought sample, its answer taken from a `Final answer:` line.

Wei et al. 2022, "Chain-of-Thought Prompting Elicits Reasoning in Large Language Models".
"""

from __future__ import annotations

from thinkcli.strategies.base import Outcome, Plan, Problem, to_candidate


def cot(problem: Problem, plan: Plan, backend, verifier, sink) -> Outcome:
    [gen] = backend.draw(problem.messages(plan.prompt_style), plan.params(), n=1)
    cand = to_candidate(gen, sink, question=problem.question, style=plan.prompt_style)
    return Outcome(cand.answer, [cand], chosen=cand.sample)
