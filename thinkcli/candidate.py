"""The one candidate type: a sample's text and answer as strategies, verifiers and results see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Candidate:
    """One sample (or a search's finished path) as a candidate answer.

    A strategy makes it from a ``Generation``; a verifier scores it (reading ``question``,
    ``text``, ``answer`` and ``mean_logprob``) and the strategy records the verdict on it.
    """

    sample: int
    text: str
    answer: str | None
    completion_tokens: int = 0
    score: float | None = None
    verdict: Any = None  # verify.base.Verdict
    mean_logprob: float | None = None
    finish_reason: str = "stop"
    signals: dict[str, float] = field(default_factory=dict)  # from the backend; see thinkcli/signals.py
    approximate: bool = False  # signals from a server's top-k log-probs
    question: str = ""  # what it answers; set before a verifier scores it

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
        if self.signals:
            d["signals"] = {k: round(v, 6) for k, v in self.signals.items()}
            d["signals_approximate"] = self.approximate
        if self.verdict is not None:
            d["verdict"] = self.verdict.as_dict()
        return d
