"""The state of one self-consistency vote and how it grows: ``Ballot`` and its rounds.

Owns drawing samples into a ballot round by round, the stop rules a ballot is
judged by (lossless, posterior confidence, ESC, futility; arithmetic in
``voting``), the DeepConf online threshold set from the warm-up, the final
choice (majority or a ``--select`` rule), the sample that speaks for an answer,
and handing the current majority to the engine when a budget or Ctrl-C stops the
vote. ``vote``, ``auto`` and the verifier escalation all work on a Ballot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from thinkcli.answers import extract, vote_key
from thinkcli.candidate import Candidate
from thinkcli.events import Generation, Vote
from thinkcli.signals import threshold
from thinkcli.strategies import voting
from thinkcli.strategies.base import Outcome, Plan, Problem, apply_select, to_candidate


@dataclass
class Ballot:
    """Everything drawn so far in one vote, and the stop rule it is judged by."""

    rule: str = "beta"  # 'beta' | 'dirichlet': the posterior behind the confidence
    futility: bool = False  # also stop when the answers scatter (voting.futile)
    esc_window: int = 0  # also stop when this many last samples agree (ESC); 0 = off
    select: str | None = None  # the final choice's rule; None = majority with the log-prob tie-break
    online_warmup: int = 0  # DeepConf online: samples drawn in full before the threshold is set
    online_keep: float = 0.9
    threshold: float | None = None  # DeepConf online: group confidence below which a sample stops
    candidates: list[Candidate] = field(default_factory=list)
    drawn: int = 0  # samples requested so far
    key: Callable[[str | None], str | None] = vote_key  # answer -> vote key (Problem.key: read against the question)

    @classmethod
    def for_plan(cls, plan: Plan, futility: bool, key: Callable[[str | None], str | None] = vote_key) -> Ballot:
        """A ballot with the plan's rules. ``plan.extra["futility"]`` overrides ``futility``;
        ``--confidence 1`` asks for certainty, so it turns the early stops off too."""
        sure = plan.confidence >= 1.0
        futility = plan.extra.get("futility", futility and not sure)
        return cls(rule=plan.extra.get("stop_rule", "beta"), futility=futility,
                   esc_window=0 if sure else max(0, plan.esc_window), select=plan.select,
                   online_warmup=max(0, plan.online_warmup), online_keep=plan.online_keep, key=key)

    @property
    def buckets(self) -> list[voting.Bucket]:
        return voting.tally(((c.sample, c.answer, c.mean_logprob) for c in self.candidates), key=self.key)

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
        if self.esc_window and voting.window_agrees([self.key(c.answer) for c in self.candidates], self.esc_window):
            return f"the last {self.esc_window} samples agree (ESC)"
        if self.futility and voting.futile(buckets):
            answered = sum(b.count for b in buckets)
            return f"no two of {answered} answers agree; the tie-break picks"
        return None

    def outcome(self, notes: list[str], sink=None) -> Outcome:
        """The vote's answer: by ``select`` when one is set, else the majority."""
        notes = list(notes)
        conf = self.confidence
        chosen = None
        answer = None
        if self.select and self.select != "majority":
            picked, selection = apply_select(self.select, self.candidates, sink, notes, key=self.key)
            if picked is not None:
                chosen, answer = picked.sample, picked.answer
        else:
            top = self.leader()
            if top is not None:
                chosen = representative(top, self.candidates)
                answer = next(c.answer for c in self.candidates if c.sample == chosen)
            selection = {"rule": "majority", "weights": {k: float(v) for k, v in self.votes().items()}}
        return Outcome(answer, list(self.candidates), chosen=chosen, votes=self.votes() or None,
                       confidence=conf, notes=notes, selection=selection)

    def after_round(self, notes: list[str] | None = None) -> None:
        """Once the warm-up is in, set the DeepConf online threshold from its traces."""
        if not self.online_warmup or self.threshold is not None or self.drawn < self.online_warmup:
            return
        lows = [c.signals["deepconf-lowest-group"] for c in self.candidates if "deepconf-lowest-group" in c.signals]
        self.threshold = threshold(lows, self.online_keep)
        if notes is not None:
            notes.append(f"DeepConf online: threshold {self.threshold:.3f} from {len(lows)} warm-up samples"
                         if self.threshold is not None else "DeepConf online: off, the backend gave no log-probs")


def representative(bucket: voting.Bucket, cands: list[Candidate]) -> int:
    """The sample that speaks for a bucket: one that marked its answer ("Final answer:")
    over one whose whole reply stands as the answer, then the most confident, then the first."""
    voters = [c for c in cands if c.sample in bucket.samples]

    def rank(c: Candidate):
        marked = extract(c.text).marked
        return (marked, c.mean_logprob is not None, c.mean_logprob or 0.0, -c.sample)

    return max(voters, key=rank).sample


def draw_round(problem: Problem, plan: Plan, meter, sink, ballot: Ballot, n: int, label: str = "vote",
               notes: list[str] | None = None) -> None:
    """Draw ``n`` more samples into the ballot, announcing each answer as it finishes."""
    params = plan.params()  # the Meter gives sample k of the run seed + k: distinct, reproducible
    if ballot.threshold is not None:
        params = params.with_(confidence_stop=ballot.threshold)
    ballot.drawn += n
    for event in meter.generate(problem.messages(plan.prompt_style), params, n, label=label):
        if isinstance(event, Generation):
            ballot.candidates.append(to_candidate(event, sink, question=problem.question, style=plan.prompt_style))
    ballot.after_round(notes)
    sink.emit(Vote(ballot.votes(), _leader_answer(ballot), ballot.confidence))


def _leader_answer(ballot: Ballot) -> str | None:
    top = ballot.leader()
    return top.answer if top else None


def run_ballot(problem: Problem, plan: Plan, meter, sink, ballot: Ballot, max_samples: int,
               first_round: int | None = None, label: str = "vote", notes: list[str] | None = None) -> str:
    """Draw rounds until the stop rule fires; return the reason it stopped."""
    size = max(1, first_round or plan.round_size)
    while True:
        reason = ballot.stop_reason(max_samples, plan.confidence)
        if reason is not None and ballot.drawn > 0:
            return reason
        if ballot.online_warmup and ballot.threshold is None and ballot.drawn < ballot.online_warmup:
            size = ballot.online_warmup - ballot.drawn  # the warm-up first, together, then the rest watched
        draw_round(problem, plan, meter, sink, ballot, min(size, max_samples - ballot.drawn), label, notes)
        size = max(1, plan.round_size)


def anytime(ballot: Ballot, notes: list[str], stop: BaseException) -> None:
    """Hand the current majority to the engine when a budget or Ctrl-C stops the vote."""
    if ballot.leader() is not None:
        why = getattr(stop, "budget", None)
        what = f"{why} budget" if why else "interrupt"
        stop.outcome = ballot.outcome([*notes, f"stopped by {what} after {len(ballot.candidates)} samples"])
