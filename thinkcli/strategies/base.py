"""What every strategy takes and returns: the problem, the plan, the outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from thinkcli import prompts
from thinkcli.answers import extract
from thinkcli.backends.base import GenParams, Message
from thinkcli.events import Generation, SampleDone


@dataclass
class Problem:
    question: str
    system: str | None = None

    def messages(self, style: str) -> list[Message]:
        """The conversation for one fresh sample in the given prompt style."""
        return prompts.messages(self.question, style, self.system)


@dataclass
class Plan:
    """The resolved knobs of one run: an effort preset with the user's overrides applied."""

    strategy: str = "cot"
    samples: int = 1
    prompt_style: str = "steps"  # 'direct' | 'steps'
    max_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int | None = None
    confidence: float = 0.95  # adaptive vote stops when the leader's posterior passes this
    round_size: int = 2  # samples drawn per adaptive round
    rounds: int = 2  # refine rounds
    beam_width: int = 2
    expansions: int = 2
    think_min: int = 0
    think_max: int = 512
    then: str | None = None  # strategy to escalate to when a verifier is given (effort high)
    extra: dict[str, Any] = field(default_factory=dict)

    def params(self, **changes) -> GenParams:
        base = GenParams(
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
        )
        return base.with_(**changes) if changes else base


@dataclass
class Candidate:
    sample: int
    text: str
    answer: str | None
    completion_tokens: int
    score: float | None = None
    verdict: Any = None  # verify.base.Verdict
    mean_logprob: float | None = None
    finish_reason: str = "stop"

    def as_dict(self) -> dict[str, Any]:
        d = {
            "index": self.sample,
            "text": self.text,
            "answer": self.answer,
            "completion_tokens": self.completion_tokens,
            "finish_reason": self.finish_reason,
        }
        if self.score is not None:
            d["score"] = self.score
        if self.mean_logprob is not None:
            d["mean_logprob"] = self.mean_logprob
        if self.verdict is not None:
            d["verdict"] = self.verdict.as_dict()
        return d


@dataclass
class Outcome:
    answer: str | None
    candidates: list[Candidate]
    chosen: int | None = None  # sample index of the selected candidate
    votes: dict[str, int] | None = None
    confidence: float | None = None
    notes: list[str] = field(default_factory=list)  # escalation path, stop reasons


def to_candidate(gen: Generation, sink=None, score: float | None = None) -> Candidate:
    """Extract a generation's answer and announce it with SampleDone."""
    answer = extract(gen.text).answer if gen.text.strip() else None
    cand = Candidate(
        gen.sample,
        gen.text,
        answer,
        gen.usage.completion_tokens,
        score=score,
        mean_logprob=gen.mean_logprob,
        finish_reason=gen.finish_reason,
    )
    if sink is not None:
        sink.emit(SampleDone(gen.sample, answer, gen.usage, score, gen.text))
    return cand
