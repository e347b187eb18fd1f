"""The one Verifier interface every checker implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from thinkcli.candidate import Candidate

__all__ = ["Candidate", "Verdict", "Verifier"]


@dataclass
class Verdict:
    """What a verifier thinks of one candidate.

    ``passed`` is None for graded verifiers that have no pass/fail notion
    (a judge's score, inverse perplexity); ``score`` is in [0, 1], higher is better.
    """

    passed: bool | None
    score: float
    detail: str = ""  # one line for the live view ("2 passed, 1 failed", "score 7/10")
    output: str = ""  # what the checker printed, truncated; fed back to `refine`
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"passed": self.passed, "score": self.score, "detail": self.detail}


class Verifier(Protocol):
    pass_fail: bool  # True when a verdict can say 'passed', so best-of-n may stop at the first pass
    name: str

    def score(self, candidate: Candidate) -> Verdict:
        """Judge ``candidate`` (its ``question``, ``text``, ``answer``, ``mean_logprob``)."""
        ...
