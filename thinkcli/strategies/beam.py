"""`beam`: step-level beam search over partial solutions.

Snell et al. 2024, "Scaling LLM Test-Time Compute Optimally can be More Effective
than Scaling Model Parameters" (beam search against a process reward);
Yao et al. 2023, "Tree of Thoughts" (breadth-first search over thoughts).

Depth 1 samples B x E first steps; every depth after expands each of the B
surviving partial solutions into E next steps. Each partial solution is scored
(by the judge when one is given, else by inverse perplexity) and the top B are kept.
A beam ends at its final answer, at end of text or at the per-sample token cap;
the search ends when no beam is left running or the budget runs out. A
pass/fail verifier then checks the finished beams and a pass ranks first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from thinkcli.answers import extract
from thinkcli.events import RoundStarted, SampleDone, Usage
from thinkcli.strategies.base import Candidate, Outcome, Plan, Problem
from thinkcli.strategies.scoring import anytime, blind_note, outcome_of, rank, score
from thinkcli.strategies.stepwise import Stepper, is_final, join, split_steps

MAX_DEPTH = 64  # a guard; the per-sample token cap ends beams long before this


@dataclass
class Beam:
    """One partial solution and what it cost."""

    text: str = ""
    tokens: int = 0
    logprobs: list[float] | None = field(default_factory=list)  # None once a step had none
    sample: int = -1  # the sample that wrote its latest step
    done: bool = False
    cand: Candidate | None = None

    def extend(self, gen, cap: int) -> Beam:
        step = gen.text
        cut = gen.finish_reason == "length"
        lps = None if self.logprobs is None or gen.logprobs is None else self.logprobs + gen.logprobs
        tokens = self.tokens + gen.usage.completion_tokens
        done = (
            is_final(step) or not step.strip() or tokens >= cap or gen.finish_reason in ("context", "error")
        )
        text = join(self.text, step, cut) if step.strip() else self.text
        return Beam(text, tokens, lps, gen.sample, done)

    def candidate(self) -> Candidate:
        mean = sum(self.logprobs) / len(self.logprobs) if self.logprobs else None
        answer = (extract(self.text).answer or None) if self.done and self.text.strip() else None
        return Candidate(self.sample, self.text.rstrip(), answer, self.tokens, mean_logprob=mean,
                         finish_reason="stop" if self.done else "length")


def top(children: list[Beam], width: int) -> list[Beam]:
    """The ``width`` best-ranked children with distinct text (a duplicate would waste a beam).
    The sort is stable: among equal scores the earlier-drawn child stays ahead."""
    kept: list[Beam] = []
    seen: set[str] = set()
    for child in sorted(children, key=lambda c: rank(c.cand), reverse=True):
        if child.text not in seen and len(kept) < width:
            seen.add(child.text)
            kept.append(child)
    return kept


def step_verifier(verifier):
    """What scores partial solutions: a graded verifier (a judge) if given, else inverse perplexity.
    A pass/fail command cannot run half a solution; it checks finished beams instead."""
    if verifier is not None and not verifier.pass_fail:
        return verifier
    from thinkcli.verify.certainty import InversePerplexity

    return InversePerplexity()


def beam(problem: Problem, plan: Plan, meter, verifier, sink) -> Outcome:
    width, expansions = max(1, plan.beam_width), max(1, plan.expansions)
    scorer = step_verifier(verifier)
    stepper = Stepper(meter, problem.question, problem.system)
    active = [Beam()]
    finished: list[Beam] = []
    notes: list[str] = []

    def so_far() -> Outcome:
        pool = [b.cand for b in finished + active if b.cand is not None and b.text.strip()]
        for c in pool:  # an unfinished beam's best guess is its text so far
            c.answer = c.answer or extract(c.text).answer
        return outcome_of(pool, notes + ["stopped before every beam finished"])

    with anytime(so_far):
        depth = 0
        while active and depth < MAX_DEPTH:
            depth += 1
            per_beam = width * expansions if depth == 1 else expansions
            sink.emit(RoundStarted(f"depth {depth}: {len(active)} beam(s) x {per_beam}"))
            children: list[Beam] = []
            for b, parent in enumerate(active):
                gens = stepper.next_steps(parent.text, plan.params(), per_beam, label=f"beam {b + 1} depth {depth}")
                for gen in gens:
                    child = parent.extend(gen, plan.max_tokens)
                    child.cand = child.candidate()
                    score(scorer, problem.question, child.cand, sink)
                    children.append(child)
            kept = top(children, width)
            active = []
            for child in kept:
                (finished if child.done else active).append(child)
                if child.done:
                    c = child.cand
                    sink.emit(SampleDone(c.sample, c.answer, Usage(completion_tokens=c.completion_tokens), c.score, c.text))
        if active:
            notes.append(f"stopped at depth {depth} with {len(active)} beam(s) unfinished")
        if verifier is not None and verifier.pass_fail:
            for b in finished:
                score(verifier, problem.question, b.cand, sink)
    cands = [b.cand for b in finished] or [b.cand for b in active if b.cand is not None]
    notes.extend(blind_note(cands))
    out = outcome_of(cands, notes)
    chosen = next((c for c in cands if c.sample == out.chosen), None)
    if chosen is not None:
        out.notes.append(f"beam search: {depth} depth(s), answer in {len(split_steps(chosen.text))} step(s)")
    return out
