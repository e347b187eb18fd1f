"""`vote`: self-consistency with adaptive stopping.

Wang et al. 2022, "Self-Consistency Improves Chain of Thought Reasoning in
Language Models"; Aggarwal et al. 2023, "Let's Sample Step by Step:
Adaptive-Consistency for Efficient Reasoning and Coding with LLMs".

Samples are drawn in small rounds at temperature > 0; each sample's final
answer is normalised and voted; ties go to the higher mean token log-probability.
After every round the vote stops early when the leader cannot be overtaken by
the samples left, or when its posterior probability of being the majority passes
``plan.confidence``, or (futility) when enough samples answered and no two
agree. ``Ballot`` is the loop state; ``auto`` reuses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from thinkcli.answers import extract
from thinkcli.engine import BudgetExhausted
from thinkcli.events import Generation, Vote
from thinkcli.strategies import voting
from thinkcli.strategies.base import Candidate, Outcome, Plan, Problem, to_candidate


@dataclass
class Ballot:
    """Everything drawn so far in one vote, and the stop rule it is judged by."""

    rule: str = "beta"  # 'beta' | 'dirichlet': the posterior behind the confidence
    futility: bool = True  # also stop when the answers scatter (voting.futile)
    candidates: list[Candidate] = field(default_factory=list)
    drawn: int = 0  # samples requested so far

    @classmethod
    def for_plan(cls, plan: Plan, futility: bool) -> Ballot:
        """A ballot with the plan's posterior rule. ``plan.extra["futility"]`` overrides the default;
        ``--confidence 1`` asks for certainty, so it turns the futility stop off too."""
        futility = plan.extra.get("futility", futility and plan.confidence < 1.0)
        return cls(rule=plan.extra.get("stop_rule", "beta"), futility=futility)

    @property
    def buckets(self) -> list[voting.Bucket]:
        return voting.tally((c.sample, c.answer, c.mean_logprob) for c in self.candidates)

    @property
    def confidence(self) -> float | None:
        return voting.confidence(self.buckets, self.rule)

    def leader(self) -> voting.Bucket | None:
        return voting.winner(self.buckets)

    def votes(self) -> dict[str, int]:
        return {b.answer: b.count for b in voting.ranked(self.buckets)}

    def stop_reason(self, max_samples: int, threshold: float) -> str | None:
        """Why the vote may stop now, or None to keep drawing."""
        buckets = self.buckets
        first, second = voting.top_two(buckets)
        remaining = max_samples - self.drawn
        if remaining <= 0:
            return f"drew all {max_samples} samples"
        if voting.cannot_be_overtaken(first, second, remaining):
            return f"leader cannot be overtaken by the {remaining} samples left"
        conf = voting.confidence(buckets, self.rule)
        if conf is not None and conf >= threshold:
            return f"leader's posterior {conf:.3f} >= {threshold:g}"
        if self.futility and voting.futile(buckets):
            answered = sum(b.count for b in buckets)
            return f"no two of {answered} answers agree; the tie-break picks"
        return None

    def outcome(self, notes: list[str]) -> Outcome:
        top = self.leader()
        conf = self.confidence
        chosen = None
        answer = None
        if top is not None:
            chosen = representative(top, self.candidates)
            answer = next(c.answer for c in self.candidates if c.sample == chosen)
        return Outcome(answer, list(self.candidates), chosen=chosen, votes=self.votes() or None,
                       confidence=conf, notes=list(notes))


def representative(bucket: voting.Bucket, cands: list[Candidate]) -> int:
    """The sample that speaks for a bucket: one that marked its answer ("Final answer:")
    over one whose whole reply stands as the answer, then the most confident, then the first."""
    voters = [c for c in cands if c.sample in bucket.samples]

    def rank(c: Candidate):
        marked = extract(c.text).marked
        return (marked, c.mean_logprob is not None, c.mean_logprob or 0.0, -c.sample)

    return max(voters, key=rank).sample


def draw_round(problem: Problem, plan: Plan, meter, sink, ballot: Ballot, n: int, label: str = "vote") -> None:
    """Draw ``n`` more samples into the ballot, announcing each answer as it finishes."""
    params = plan.params()  # the Meter gives sample k of the run seed + k: distinct, reproducible
    ballot.drawn += n
    for event in meter.generate(problem.messages(plan.prompt_style), params, n, label=label):
        if isinstance(event, Generation):
            ballot.candidates.append(to_candidate(event, sink))
    sink.emit(Vote(ballot.votes(), _leader_answer(ballot), ballot.confidence))


def _leader_answer(ballot: Ballot) -> str | None:
    top = ballot.leader()
    return top.answer if top else None


def run_ballot(problem: Problem, plan: Plan, meter, sink, ballot: Ballot, max_samples: int,
               first_round: int | None = None, label: str = "vote") -> str:
    """Draw rounds until the stop rule fires; return the reason it stopped."""
    size = max(1, first_round or plan.round_size)
    while True:
        reason = ballot.stop_reason(max_samples, plan.confidence)
        if reason is not None and ballot.drawn > 0:
            return reason
        draw_round(problem, plan, meter, sink, ballot, min(size, max_samples - ballot.drawn), label)
        size = max(1, plan.round_size)


def anytime(ballot: Ballot, notes: list[str], stop: BaseException) -> None:
    """Hand the current majority to the engine when a budget or Ctrl-C stops the vote."""
    if ballot.leader() is not None:
        why = getattr(stop, "budget", None)
        what = f"{why} budget" if why else "interrupt"
        stop.outcome = ballot.outcome([*notes, f"stopped by {what} after {len(ballot.candidates)} samples"])


def vote(problem: Problem, plan: Plan, meter, verifier, sink) -> Outcome:
    ballot = Ballot.for_plan(plan, futility=True)
    notes: list[str] = []
    if plan.temperature <= 0 and plan.samples > 1:
        notes.append("temperature 0: the samples will all agree")
    try:
        reason = run_ballot(problem, plan, meter, sink, ballot, plan.samples)
    except (BudgetExhausted, KeyboardInterrupt) as stop:
        anytime(ballot, notes, stop)
        raise
    notes.append(f"stopped after {ballot.drawn} of {plan.samples} samples: {reason}")
    if ballot.leader() is None:
        notes.append("no sample gave an answer to vote on")
    outcome = ballot.outcome(notes)
    if verifier is not None and plan.then:
        from thinkcli.strategies.auto import escalate_with_verifier

        return escalate_with_verifier(problem, plan, meter, verifier, sink, ballot, outcome)
    return outcome
