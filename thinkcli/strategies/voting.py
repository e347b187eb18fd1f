"""Pure voting and stopping arithmetic for self-consistency (no I/O, no backends).

``tally`` groups answers by ``answers.vote_key``; ``winner`` picks the majority
with ties broken by mean token log-probability; ``cannot_be_overtaken`` is the
lossless early stop; ``beta_confidence`` and ``dirichlet_confidence`` are the
posterior stopping rules of Aggarwal et al. 2023 ("Let's Sample Step by Step:
Adaptive-Consistency for Efficient Reasoning and Coding with LLMs"); ``futile``
is the stop for a vote that is not converging at all.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from thinkcli.answers import vote_key

_NUMERIC = re.compile(r"-?\d+(?:/\d+)?")


@dataclass
class Bucket:
    """All votes for one normalised answer."""

    key: str
    answer: str  # the first answer given for this key, shown to the user
    samples: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)  # mean log-prob of each voter that has one

    @property
    def count(self) -> int:
        return len(self.samples)

    @property
    def mean_logprob(self) -> float | None:
        return sum(self.logprobs) / len(self.logprobs) if self.logprobs else None


def display(key: str, answer: str) -> str:
    """How a bucket is shown: its normal form when it has a short one, else the first answer.

    >>> display("12", "7 + 5 = 12 apples"), display("choice:B", "(b)"), display("paris", " Paris! ")
    ('12', 'B', 'Paris!')
    """
    if key.startswith("choice:"):
        return key.split(":", 1)[1]
    if not key.startswith("code:") and (key in ("yes", "no") or _NUMERIC.fullmatch(key)):
        return key
    return answer.strip()


def tally(votes: Iterable[tuple[int, str | None, float | None]], key=vote_key) -> list[Bucket]:
    """Group ``(sample, answer, mean_logprob)`` votes by normalised answer, in order of first vote.

    Samples without an answer (or whose answer normalises to nothing) do not vote.
    ``key`` maps an answer to its vote key (a question's ``Problem.key`` reads answers against it).

    >>> [(b.answer, b.count) for b in tally([(0, "12", None), (1, None, None), (2, "12.0", None), (3, "7", None)])]
    [('12', 2), ('7', 1)]
    """
    buckets: dict[str, Bucket] = {}
    for sample, answer, logprob in votes:
        k = key(answer)
        if k is None:
            continue
        bucket = buckets.setdefault(k, Bucket(k, display(k, answer)))
        bucket.samples.append(sample)
        if logprob is not None:
            bucket.logprobs.append(logprob)
    return list(buckets.values())


def ranked(buckets: Sequence[Bucket]) -> list[Bucket]:
    """Most votes first; equal counts by higher mean log-probability, then by the earliest vote.

    A bucket with no log-probabilities loses a log-prob tie-break to one that has them.

    >>> a = Bucket("a", "a", [0, 3], [-2.0, -2.0]); b = Bucket("b", "b", [1, 2], [-0.5, -0.7])
    >>> [x.key for x in ranked([a, b])]
    ['b', 'a']
    >>> [x.key for x in ranked([Bucket("x", "x", [4]), Bucket("y", "y", [2])])]
    ['y', 'x']
    """

    def order(b: Bucket):
        lp = b.mean_logprob
        return (-b.count, 0 if lp is not None else 1, -(lp or 0.0), min(b.samples))

    return sorted(buckets, key=order)


def winner(buckets: Sequence[Bucket]) -> Bucket | None:
    """The majority answer, ties broken as in ``ranked``; None when nobody voted.

    >>> winner(tally([(0, "A", None), (1, "B", None), (2, "(a)", None)])).answer
    'A'
    >>> winner([]) is None
    True
    """
    order = ranked(buckets)
    return order[0] if order else None


def top_two(buckets: Sequence[Bucket]) -> tuple[int, int]:
    """Vote counts of the leader and the runner-up (0 when there is none).

    >>> top_two(tally([(0, "1", None), (1, "1", None), (2, "2", None)]))
    (2, 1)
    """
    counts = sorted((b.count for b in buckets), reverse=True) + [0, 0]
    return counts[0], counts[1]


def cannot_be_overtaken(leader: int, runner_up: int, remaining: int) -> bool:
    """True when the leader wins even if every remaining sample votes for the runner-up.

    Strict, so a tie (and with it a log-prob tie-break that could go the other
    way) is impossible: stopping here never changes the final answer.

    >>> cannot_be_overtaken(4, 1, 2)
    True
    >>> cannot_be_overtaken(4, 1, 3)
    False
    >>> cannot_be_overtaken(0, 0, 0)
    False
    """
    return leader > 0 and leader > runner_up + remaining


# Answered samples after which a vote with no two answers alike stops (see ``futile``).
FUTILE_AFTER = 4


def futile(buckets: Sequence[Bucket], after: int = FUTILE_AFTER) -> bool:
    """True when at least ``after`` samples answered and no two of them agree.

    The futility stop of sequential testing, for votes: the posterior rules stop
    when the leader is clearly ahead; this one stops when nobody is ahead and the
    answers scatter, so more samples would mostly add more singletons and the
    plurality at the cap would often be a two-vote accident. The pick then falls
    to the tie-break (mean token log-probability, i.e. inverse perplexity). On the
    embedded 135M model it cut an adaptive vote's tokens by 15-27% and cost at most
    one question in fifty (README, under `think bench`).

    >>> futile(tally([(i, str(i), None) for i in range(4)]))
    True
    >>> futile(tally([(0, "1", None), (1, "2", None), (2, "3", None), (3, None, None)]))
    False
    >>> futile(tally([(0, "1", None), (1, "2", None), (2, "1", None), (3, "4", None)]))
    False
    """
    answered = sum(b.count for b in buckets)
    return answered >= after and all(b.count == 1 for b in buckets)


def window_agrees(keys: Sequence[str | None], window: int) -> bool:
    """ESC's stop (Li et al. 2024, "Escape Sky-high Cost: Early-stopping Self-Consistency
    for Multi-step Reasoning"): the last ``window`` samples, in drawing order, all gave the
    same answer (a window with zero answer entropy). An unanswered sample breaks a window.

    >>> window_agrees(["3", "5", "5", "5"], 3), window_agrees(["5", "5", None], 2), window_agrees(["5"], 2)
    (True, False, False)
    """
    last = list(keys[-window:]) if window > 0 else []
    return len(last) == window > 0 and last[0] is not None and all(k == last[0] for k in last)


def beta_confidence(leader: int, runner_up: int) -> float:
    """P(p_leader > p_runner_up) under the Beta(leader+1, runner_up+1) posterior.

    Adaptive-Consistency's Beta stopping rule: with a uniform prior over the two
    most frequent answers, the probability that the leader is the true majority
    between them is the Beta tail above 1/2. With integer counts this is exactly
    a binomial sum: sum_{j<leader+1} C(n, j) / 2^n with n = leader + runner_up + 1.

    >>> beta_confidence(0, 0)
    0.5
    >>> beta_confidence(1, 0)
    0.75
    >>> beta_confidence(4, 0)
    0.96875
    >>> round(beta_confidence(5, 1), 4)
    0.9375
    >>> beta_confidence(3, 3)
    0.5
    """
    n = leader + runner_up + 1
    total = sum(math.comb(n, j) for j in range(leader + 1))
    return total / 2**n


def dirichlet_confidence(counts: Sequence[int], steps: int = 4000) -> float:
    """P(the leader's share is the largest) under the Dirichlet(counts + 1) posterior.

    Adaptive-Consistency's Dirichlet rule over all answers seen. A Dirichlet draw is
    a vector of independent Gamma(a_i) draws normalised, so the probability that
    component 0 is largest is the integral of Gamma(a_0)'s density times the other
    Gamma CDFs; with integer shapes those CDFs have closed forms. Counts are sorted
    so the leader is the first. Simpson's rule, deterministic.

    >>> round(dirichlet_confidence([1, 0]), 4)
    0.75
    >>> round(dirichlet_confidence([4, 0]), 4)
    0.9688
    >>> round(dirichlet_confidence([2, 2]), 3)
    0.5
    >>> round(dirichlet_confidence([3, 1, 1]), 3) < round(beta_confidence(3, 1), 3)
    True
    """
    shapes = sorted((c + 1 for c in counts), reverse=True)
    if len(shapes) < 2:
        return 1.0 if shapes else 0.0
    a0, others = shapes[0], shapes[1:]
    hi = a0 + 12 * math.sqrt(a0) + 30.0

    def gamma_cdf(x: float, a: int) -> float:  # P(Gamma(a) <= x) for integer a
        term, acc = 1.0, 1.0
        for k in range(1, a):
            term *= x / k
            acc += term
        return 1.0 - math.exp(-x) * acc

    def f(x: float) -> float:
        if x <= 0.0:
            return 0.0
        dens = math.exp((a0 - 1) * math.log(x) - x - math.lgamma(a0))
        for a in others:
            dens *= gamma_cdf(x, a)
        return dens

    h = hi / steps
    total = f(0.0) + f(hi)
    for i in range(1, steps):
        total += (4 if i % 2 else 2) * f(i * h)
    return min(1.0, max(0.0, total * h / 3))


def confidence(buckets: Sequence[Bucket], rule: str = "beta") -> float | None:
    """The leader's posterior probability of being the majority; None when nobody voted.

    >>> confidence(tally([(0, "7", None), (1, "7", None)]))
    0.875
    >>> confidence([]) is None
    True
    """
    if not buckets:
        return None
    if rule == "dirichlet":
        return dirichlet_confidence([b.count for b in buckets])
    return beta_confidence(*top_two(buckets))
