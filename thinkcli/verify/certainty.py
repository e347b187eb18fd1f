"""Inverse perplexity: how sure the model was of its own tokens, as a score in [0, 1].

Owns the mapping from a sample's mean token log-probability to a verifier score.
It costs no extra model calls; a backend that reports no log-probabilities gets a
neutral score and a verdict that says so, never an invented number.
"""

from __future__ import annotations

import math

from thinkcli.verify.base import Candidate, Verdict

NEUTRAL = 0.5  # no evidence either way: ranks every such candidate equally


def certainty(mean_logprob: float | None) -> float | None:
    """The geometric-mean token probability, exp(mean log-prob), clamped to [0, 1].

    >>> certainty(0.0)
    1.0
    >>> round(certainty(-0.6931), 3)
    0.5
    >>> certainty(-1e9)
    0.0
    >>> certainty(None) is None
    True
    """
    if mean_logprob is None or math.isnan(mean_logprob):
        return None
    return min(1.0, max(0.0, math.exp(min(0.0, mean_logprob))))


class InversePerplexity:
    """Scores a candidate by exp(mean token log-prob), its inverse perplexity (no extra calls).

    Not Kang et al.'s self-certainty (a KL divergence over the whole vocabulary, the
    `self-certainty` signal of thinkcli/signals.py); this is the baseline that paper compares.
    """

    pass_fail = False
    name = "inverse-perplexity"

    def score(self, candidate: Candidate) -> Verdict:
        value = certainty(candidate.mean_logprob)
        if value is None:
            return Verdict(
                None,
                NEUTRAL,
                detail="no log-probs from this backend: certainty unknown",
                extra={"logprobs": False},
            )
        return Verdict(
            None,
            value,
            detail=f"certainty {value:.2f} (mean log-prob {candidate.mean_logprob:.2f})",
            extra={"logprobs": True, "mean_logprob": candidate.mean_logprob},
        )


SelfCertainty = InversePerplexity  # the name it had before signals.py gave self-certainty its own meaning
