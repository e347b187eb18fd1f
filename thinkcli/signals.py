"""Confidence signals of one sampled trace, from what the backend saw of each token.

Owns the definitions. Per token a backend records the chosen token's log-prob,
the self-certainty term and the DeepConf token confidence (``logit_stats`` makes
all three from a batch of full logit rows; ``top_k_stats`` from a server's
``top_logprobs``); ``Trace`` gathers them and turns them into the per-trace
signals that selection rules read (``--select``). Higher = more confident for
every signal:

- ``self-certainty`` (Kang et al. 2025): mean over tokens of KL(U || p) with U uniform
  over the vocabulary: 0 for a uniform p, growing without bound as p sharpens.
- ``mean-logprob``: mean log-prob of the chosen tokens (<= 0).
- ``inverse-perplexity``: exp(mean-logprob), in (0, 1]; what thinkcli used to call certainty.
- ``deepconf-mean`` (Fu et al. 2025, "Deep Think with Confidence"): mean token confidence,
  a token's confidence being minus the mean log-prob of its top-k candidates (k = 20).
  Already "higher = surer" (a peaked p has a near-0 top-1 and very negative others).
- ``deepconf-lowest-group``: the lowest mean token confidence over a sliding window.
- ``deepconf-bottom-10``: the mean of the lowest 10% of those window means.

The window: DeepConf uses 2048 tokens on traces of ten thousand and more; thinkcli's
traces are 20-300 tokens, where 2048 would make every group the whole trace. The
default is 1/32 of the token budget within [8, 2048] (``default_window``): 16 tokens at
the default 512, still DeepConf's 2048 at a 64k budget. A trace shorter than the window
is one group. Stdlib only (numpy is imported by the one function that takes arrays).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

TOP_K = 20  # DeepConf's k; servers cap top_logprobs at 20 too
BOTTOM = 0.10  # deepconf-bottom-10


def default_window(max_tokens: int) -> int:
    """The sliding-window size for group confidence at a token budget.

    >>> default_window(512), default_window(64), default_window(65536)
    (16, 8, 2048)
    """
    return max(8, min(2048, max_tokens // 32))


def logit_stats(rows, chosen, k: int = TOP_K):
    """Per-row (chosen log-prob, self-certainty term, token confidence) of full logit rows.

    ``rows`` is a (n, V) float array of raw logits (temperature 1, no truncation: the
    model's own distribution), ``chosen`` the n sampled token ids. Vectorised over the
    whole batch: one pass of exp, one mean and one partition per row.

    KL(U || p) = sum_j (1/V) log((1/V) / p_j) = logsumexp(z) - mean(z) - log V.
    Token confidence = -(1/k) sum_{top k} log p_j = logsumexp(z) - mean(top-k z).

    >>> import numpy as np
    >>> lp, kl, conf = logit_stats(np.zeros((1, 4), np.float32), [2], k=2)
    >>> round(float(lp[0]), 4), round(float(kl[0]), 6), round(float(conf[0]), 4)
    (-1.3863, 0.0, 1.3863)
    """
    import numpy as np

    z = np.asarray(rows, dtype=np.float32)
    n, vocab = z.shape
    top = z.max(axis=1)
    lse = top + np.log(np.exp(z - top[:, None]).sum(axis=1, dtype=np.float64))
    chosen_lp = z[np.arange(n), np.asarray(chosen)] - lse
    kl = lse - z.mean(axis=1, dtype=np.float64) - math.log(vocab)
    k = max(1, min(k, vocab))
    top_k = np.partition(z, vocab - k, axis=1)[:, vocab - k:]
    conf = lse - top_k.mean(axis=1, dtype=np.float64)
    return chosen_lp, np.maximum(kl, 0.0), conf


def top_k_stats(top: list[float]) -> tuple[float | None, float | None]:
    """(self-certainty term, token confidence) from the top-k log-probs a server returned.

    Approximate: the server shows k tokens, not the vocabulary. Token confidence is
    DeepConf's own formula with k = what was returned. The self-certainty term is
    KL(U_k || p_k) over those k tokens with their probabilities renormalised: 0 when
    they are equally likely, large when one dominates, like the exact one.

    >>> top_k_stats([math.log(0.25)] * 4)[0]
    0.0
    >>> kl, conf = top_k_stats([math.log(0.97), math.log(0.01), math.log(0.01), math.log(0.01)])
    >>> round(kl, 3), round(conf, 3)
    (2.075, 3.461)
    >>> top_k_stats([])
    (None, None)
    """
    if not top:
        return None, None
    conf = -sum(top) / len(top)
    if len(top) < 2:
        return None, conf
    peak = max(top)
    lse = peak + math.log(sum(math.exp(x - peak) for x in top))
    kl = lse - sum(top) / len(top) - math.log(len(top))
    return max(0.0, kl), conf


@dataclass
class Trace:
    """The per-token record of one sample, and its signals.

    >>> t = Trace()
    >>> for c in (5.0, 5.0, 1.0, 5.0):
    ...     t.add(-0.1, 2.0, c)
    >>> t.group(2), t.group(8)
    (3.0, None)
    >>> s = t.signals(window=2)
    >>> s["deepconf-lowest-group"], s["deepconf-mean"], s["self-certainty"], round(s["inverse-perplexity"], 4)
    (3.0, 4.0, 2.0, 0.9048)
    """

    logprobs: list[float] = field(default_factory=list)
    certainty: list[float] = field(default_factory=list)  # per-token KL(U || p)
    confidence: list[float] = field(default_factory=list)  # per-token DeepConf confidence
    _sums: list[float] = field(default_factory=lambda: [0.0])  # prefix sums of confidence

    def add(self, logprob: float | None, certainty: float | None = None, confidence: float | None = None) -> None:
        if logprob is not None:
            self.logprobs.append(float(logprob))
        if certainty is not None:
            self.certainty.append(float(certainty))
        if confidence is not None:
            self.confidence.append(float(confidence))
            self._sums.append(self._sums[-1] + float(confidence))

    def group(self, window: int) -> float | None:
        """Mean confidence of the last ``window`` tokens; None until there are that many
        (what the online stop watches: a trace is not judged on its first few tokens)."""
        if window <= 0 or len(self.confidence) < window:
            return None
        return (self._sums[-1] - self._sums[-1 - window]) / window

    def groups(self, window: int) -> list[float]:
        """Every sliding-window mean; a trace shorter than the window is one group."""
        n = len(self.confidence)
        if not n:
            return []
        w = max(1, min(window, n))
        return [(self._sums[i + w] - self._sums[i]) / w for i in range(n - w + 1)]

    def signals(self, window: int) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.certainty:
            out["self-certainty"] = sum(self.certainty) / len(self.certainty)
        if self.logprobs:
            mean = sum(self.logprobs) / len(self.logprobs)
            out["mean-logprob"] = mean
            out["inverse-perplexity"] = math.exp(min(0.0, mean))
        groups = self.groups(window)
        if groups:
            out["deepconf-mean"] = self._sums[-1] / len(self.confidence)
            out["deepconf-lowest-group"] = min(groups)
            low = sorted(groups)[: max(1, math.ceil(BOTTOM * len(groups) - 1e-9))]
            out["deepconf-bottom-10"] = sum(low) / len(low)
        return out


def threshold(warmup: list[float], keep: float) -> float | None:
    """DeepConf online's stop threshold from the warm-up traces' lowest-group confidences:
    the value that keeps the top ``keep`` fraction of them (keep 0.1 = DeepConf-low's
    90th percentile, keep 0.9 = DeepConf-high's 10th). Nearest-rank percentile.

    >>> threshold([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9)
    2.0
    >>> threshold([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.1)
    10.0
    >>> threshold([], 0.5) is None
    True
    """
    if not warmup:
        return None
    ranked = sorted(warmup, reverse=True)
    kept = max(1, math.ceil(keep * len(ranked) - 1e-9))
    return ranked[min(kept, len(ranked)) - 1]


def of_generation(gen) -> dict[str, float]:
    """The confidence signals a generation carries: the backend's, and where it gave log-probs
    but not their mean, the mean and its exp (a third party's backend may give log-probs alone).
    A candidate carries these and a calibration draw records them, so both read the same.

    >>> from types import SimpleNamespace as G
    >>> of_generation(G(signals={"self-certainty": 2.0, "deepconf-mean": float("nan")}, mean_logprob=0.0))
    {'self-certainty': 2.0, 'mean-logprob': 0.0, 'inverse-perplexity': 1.0}
    >>> of_generation(G(signals={}, mean_logprob=None))
    {}
    """
    out = {k: float(v) for k, v in (getattr(gen, "signals", None) or {}).items()
           if v is not None and not math.isnan(v)}
    if "mean-logprob" not in out and gen.mean_logprob is not None:
        out["mean-logprob"] = gen.mean_logprob
        out.setdefault("inverse-perplexity", math.exp(min(0.0, gen.mean_logprob)))
    return out
