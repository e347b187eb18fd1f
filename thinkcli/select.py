"""Selection rules: which answer a set of sampled candidates stands for.

Pure functions over candidates, one interface: ``select(rule, candidates) -> Selection``.
A candidate is anything with ``.answer`` (its vote key, None when it gave no answer)
and ``.signals`` (signal name -> float, higher = more confident; see SIGNALS).
A rule is the string users type after ``--select``:

- ``majority``: one vote each (Wang et al. 2022, self-consistency).
- ``weighted:<signal>``: each vote weighs its signal.
- ``filtered:<signal>[:<keep>]``: keep the top ``keep`` fraction of candidates by the
  signal, then a weighted vote among them (DeepConf offline, Fu et al. 2025).
- ``best:<signal>``: the single candidate with the highest signal (Kang et al. 2025, best-of-N).
- ``borda:<signal>[:<p>]``: rank candidates by the signal; rank r of N votes (N - r + 1)^p
  (Kang et al. 2025, "Scalable Best-of-N Selection for LLMs via Self-Certainty", eq. 11).

Ties go to the answer whose first vote came first. A rule over a signal that some
answered candidate lacks (a server without log-probs) falls back to majority, and
``Selection.fallback`` says why.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from thinkcli.errors import UsageError

# Higher = more confident for every one. Definitions live with the code that computes them
# (thinkcli/signals.py); these are the names users type.
SIGNALS: dict[str, str] = {
    "self-certainty": "mean over reply tokens of KL(uniform || next-token distribution) (Kang et al. 2025)",
    "mean-logprob": "mean log-probability of the reply's tokens",
    "inverse-perplexity": "exp(mean log-prob): the geometric-mean token probability",
    "deepconf-mean": "mean token confidence, minus the mean of the top-k log-probs (Fu et al. 2025)",
    "deepconf-lowest-group": "lowest sliding-window mean of token confidence (Fu et al. 2025)",
    "deepconf-bottom-10": "mean of the lowest 10% of sliding-window confidences (Fu et al. 2025)",
}
# Signals that can be negative are exponentiated before they weigh a vote (weights must be >= 0).
_LOG_SCALE = {"mean-logprob"}
KINDS = ("majority", "weighted", "filtered", "best", "borda")
DEFAULT_KEEP = 0.9  # DeepConf-high: the paper's conservative filter (top 90%)
DEFAULT_POWER = 0.5  # Borda exponent p; Kang et al. tune p per N, 0.5 sits between their choices


@dataclass(frozen=True)
class Rule:
    """A parsed ``--select`` spec."""

    kind: str
    signal: str | None = None
    keep: float = DEFAULT_KEEP  # filtered: fraction of candidates kept
    power: float = DEFAULT_POWER  # borda: rank exponent

    def __str__(self) -> str:
        if self.kind == "majority":
            return "majority"
        if self.kind == "filtered":
            return f"filtered:{self.signal}:{self.keep:g}"
        if self.kind == "borda" and self.power != DEFAULT_POWER:
            return f"borda:{self.signal}:{self.power:g}"
        return f"{self.kind}:{self.signal}"


@dataclass
class Selection:
    """What a rule chose: the answer, the candidate that speaks for it, and every answer's weight."""

    rule: str
    answer: Any  # the winning vote key; None when no candidate answered
    index: int | None  # position in the candidates given of the chosen one
    # vote key -> weight, highest first: summed votes, or (best:) the answer's best signal
    weights: dict[Any, float] = field(default_factory=dict)
    fallback: str | None = None  # why the rule fell back to majority, when it did


def parse_rule(spec: str | Rule) -> Rule:
    """A rule from the string a user typed; UsageError (one line) when it is not one.

    >>> parse_rule("majority")
    Rule(kind='majority', signal=None, keep=0.9, power=0.5)
    >>> str(parse_rule("filtered:deepconf-lowest-group:0.5"))
    'filtered:deepconf-lowest-group:0.5'
    >>> parse_rule("weighted:self-certainty").signal
    'self-certainty'
    >>> parse_rule("best:certainty")
    Traceback (most recent call last):
    ...
    thinkcli.errors.UsageError: unknown signal 'certainty' in --select 'best:certainty'; choose from self-certainty, mean-logprob, inverse-perplexity, deepconf-mean, deepconf-lowest-group, deepconf-bottom-10
    >>> parse_rule("filtered:mean-logprob:2")
    Traceback (most recent call last):
    ...
    thinkcli.errors.UsageError: --select 'filtered:mean-logprob:2': the keep fraction must be a number in (0, 1]
    """
    if isinstance(spec, Rule):
        return spec
    text = (spec or "").strip().lower()
    kind, _, rest = text.partition(":")
    if kind not in KINDS:
        raise UsageError(f"unknown --select rule {spec!r}; choose from majority, weighted:SIGNAL, "
                         "filtered:SIGNAL[:KEEP], best:SIGNAL, borda:SIGNAL")
    if kind == "majority":
        if rest:
            raise UsageError(f"--select 'majority' takes no signal (got {spec!r})")
        return Rule("majority")
    signal, _, number = rest.partition(":")
    if not signal:
        raise UsageError(f"--select {spec!r} needs a signal, e.g. {kind}:self-certainty")
    if signal not in SIGNALS:
        raise UsageError(f"unknown signal {signal!r} in --select {spec!r}; choose from {', '.join(SIGNALS)}")
    if not number:
        return Rule(kind, signal)
    if kind not in ("filtered", "borda"):
        raise UsageError(f"--select {spec!r}: only filtered and borda take a number after the signal")
    try:
        value = float(number)
    except ValueError:
        value = math.nan
    if kind == "filtered":
        if not 0.0 < value <= 1.0:
            raise UsageError(f"--select {spec!r}: the keep fraction must be a number in (0, 1]")
        return Rule(kind, signal, keep=value)
    if not 0.0 <= value <= 10.0:
        raise UsageError(f"--select {spec!r}: the Borda exponent must be a number in [0, 10]")
    return Rule(kind, signal, power=value)


def vote_weight(signal: str, value: float) -> float:
    """How much a candidate's vote weighs under ``weighted:``/``filtered:`` (never negative).

    >>> vote_weight("self-certainty", 2.5)
    2.5
    >>> round(vote_weight("mean-logprob", math.log(0.5)), 6)
    0.5
    """
    return math.exp(value) if signal in _LOG_SCALE else max(0.0, value)


def select(rule: str | Rule, candidates: Sequence[Any], key: Callable[[Any], Any] | None = None,
           **params: Any) -> Selection:
    """Apply a rule to candidates. ``key`` maps ``.answer`` to a vote key (e.g.
    ``answers.vote_key``); without it answers are keys already. ``keep=`` and ``power=``
    override the spec's numbers.

    >>> from types import SimpleNamespace as C
    >>> cs = [C(answer="7", signals={"self-certainty": 1.0}), C(answer="9", signals={"self-certainty": 5.0}),
    ...       C(answer="7", signals={"self-certainty": 1.5}), C(answer=None, signals={})]
    >>> s = select("majority", cs); (s.answer, s.index, s.weights)
    ('7', 0, {'7': 2.0, '9': 1.0})
    >>> s = select("weighted:self-certainty", cs); (s.answer, s.index, s.weights)
    ('9', 1, {'9': 5.0, '7': 2.5})
    >>> select("best:self-certainty", cs).index
    1
    >>> select("borda:self-certainty:1", cs).weights  # ranks 9 > 7b > 7a of N=3: 3, 2 + 1
    {'7': 3.0, '9': 3.0}
    >>> select("filtered:self-certainty:0.5", cs).weights  # top 2 of 3 kept: 9 and the 1.5 seven
    {'9': 5.0, '7': 1.5}
    """
    rule = parse_rule(rule)
    if "keep" in params or "power" in params:
        rule = Rule(rule.kind, rule.signal, params.get("keep", rule.keep), params.get("power", rule.power))
    voters = [(i, key(c.answer) if key else c.answer, c) for i, c in enumerate(candidates)]
    voters = [(i, k, c) for i, k, c in voters if k is not None]
    if not voters:
        return Selection(str(rule), None, None, {})
    fallback = None
    if rule.kind != "majority":
        missing = [i for i, _, c in voters if _value(c, rule.signal) is None]
        if missing:
            fallback = (f"{len(missing)} of {len(voters)} answered samples have no {rule.signal} "
                        "(no log-probs); plain majority vote instead")
            rule = Rule("majority")
    picks = _RULES[rule.kind](voters, rule)
    return _decide(str(rule) if fallback is None else "majority", voters, picks, rule, fallback)


def _value(candidate: Any, signal: str | None) -> float | None:
    value = (getattr(candidate, "signals", None) or {}).get(signal)
    return None if value is None or math.isnan(value) else float(value)


Voter = tuple[int, Any, Any]  # (position, vote key, candidate)


def _majority(voters: list[Voter], rule: Rule) -> list[tuple[Voter, float]]:
    return [(v, 1.0) for v in voters]


def _weighted(voters: list[Voter], rule: Rule) -> list[tuple[Voter, float]]:
    return [(v, vote_weight(rule.signal, _value(v[2], rule.signal))) for v in voters]


def _by_signal(voters: list[Voter], rule: Rule) -> list[Voter]:
    """Most confident first; equal signals keep sampling order (sorted is stable)."""
    return sorted(voters, key=lambda v: -_value(v[2], rule.signal))


def _filtered(voters: list[Voter], rule: Rule) -> list[tuple[Voter, float]]:
    kept = _by_signal(voters, rule)[: max(1, math.ceil(rule.keep * len(voters) - 1e-9))]
    return _weighted(kept, rule)


def _best(voters: list[Voter], rule: Rule) -> list[tuple[Voter, float]]:
    return [(v, _value(v[2], rule.signal)) for v in voters]  # combined by max, not sum


def _borda(voters: list[Voter], rule: Rule) -> list[tuple[Voter, float]]:
    n = len(voters)
    return [(v, float((n - r) ** rule.power)) for r, v in enumerate(_by_signal(voters, rule))]


_RULES = {"majority": _majority, "weighted": _weighted, "filtered": _filtered, "best": _best, "borda": _borda}


def _decide(name: str, voters: list[Voter], picks: list[tuple[Voter, float]], rule: Rule,
            fallback: str | None) -> Selection:
    """Sum weights per answer; the heaviest wins (ties: earliest first vote); its most
    confident voter (by the rule's signal, else the first) speaks for it."""
    weights: dict[Any, float] = {}
    first: dict[Any, int] = {}
    for (i, k, _), w in sorted(picks, key=lambda p: p[0][0]):
        if rule.kind == "best":  # an answer is as good as its best sample
            weights[k] = max(weights.get(k, -math.inf), w)
        else:
            weights[k] = weights.get(k, 0.0) + w
        first.setdefault(k, i)
    order = sorted(weights, key=lambda k: (-weights[k], first[k]))
    answer = order[0]
    mine = [v for v, _ in picks if v[1] == answer]
    if rule.signal is not None:
        mine = _by_signal(mine, rule)
    else:
        mine.sort()
    return Selection(name, answer, mine[0][0], {k: weights[k] for k in order}, fallback)
