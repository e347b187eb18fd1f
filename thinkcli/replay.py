"""Replaying selection and stopping rules over one recorded draw: the arithmetic of calibration.

A draw holds, for every question, N samples per prompt style (their vote keys,
whether each was right, completion tokens and confidence signals) plus one greedy
sample. A ``Setting`` is what a preset would run (style, temperature, rule, sample
count, stop rule, and for ``auto`` the probe). ``evaluate`` scores a setting on
the draw exactly as the preset would have fared, without decoding anything: a
setting of n samples is scored on every disjoint block of n samples of the draw
(blocks 0..n-1, n..2n-1, ...) and averaged, as search-and-learn scores subsets of
one draw. Pure functions; no model, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from thinkcli.select import select
from thinkcli.strategies.voting import beta_confidence, cannot_be_overtaken, tally, winner

GREEDY = "greedy"  # the rule name of a single temperature-0 sample
ROUND = 2  # samples per round of an adaptive stop, as the presets draw them


@dataclass
class Sample:
    answer: str | None  # vote key (answers.vote_key), None when it gave no answer
    correct: bool
    tokens: int  # completion tokens
    signals: dict[str, float] = field(default_factory=dict)
    text: str | None = None  # the extracted answer as the sample wrote it (so a draw can be re-keyed exactly)


@dataclass
class Question:
    id: str
    kind: str
    samples: dict[str, list[Sample]]  # prompt style -> the N sampled replies, in seed order
    greedy: dict[str, Sample] = field(default_factory=dict)  # prompt style -> the temperature-0 reply


@dataclass(frozen=True)
class Setting:
    """One plan a preset could run, in the terms the replay scores."""

    style: str
    rule: str  # a select.py rule spec, or GREEDY
    samples: int = 1  # the most samples drawn
    stop: str = "none"  # 'none' | 'beta:C' (adaptive rounds of 2, Aggarwal et al.) | 'esc:W' (Li et al.)
    probe: int = 0  # auto: samples drawn first; 0 = not auto
    easy_signal: str | None = None  # auto: the probe is easy when it agrees and its mean signal >= easy_threshold
    easy_threshold: float | None = None
    anchor: bool = False  # auto: the probe's first sample is the greedy reply (then probe-1 sampled), and it votes

    @property
    def label(self) -> str:
        if self.rule == GREEDY:
            return f"{self.style} greedy"
        text = f"{self.style} {self.rule} n={self.samples}"
        if self.stop != "none":
            text += f" stop={self.stop}"
        if self.probe:
            text += f" probe=greedy+{self.probe - 1}" if self.anchor else f" probe={self.probe}"
            if self.easy_signal:
                text += f" easy:{self.easy_signal}>={self.easy_threshold:.3g}"
        return text

    @property
    def family(self) -> int:
        """How much a rule leans on confidence signals (0 = plain counting): the simpler wins a near tie."""
        kind = self.rule.split(":", 1)[0]
        return {GREEDY: 0, "majority": 0, "weighted": 1, "filtered": 2, "borda": 3, "best": 4}[kind]


@dataclass
class Point:
    """A setting scored on a set of questions."""

    setting: Setting
    correct: list[float]  # per question: the fraction of blocks that answered right
    tokens: list[float]  # per question: mean completion tokens of a block
    kinds: list[str]

    @property
    def accuracy(self) -> float:
        return sum(self.correct) / len(self.correct) if self.correct else 0.0

    @property
    def tokens_per_question(self) -> float:
        return sum(self.tokens) / len(self.tokens) if self.tokens else 0.0

    def by_kind(self) -> dict[str, float]:
        out: dict[str, list[float]] = {}
        for k, c in zip(self.kinds, self.correct, strict=True):
            out.setdefault(k, []).append(c)
        return {k: sum(v) / len(v) for k, v in sorted(out.items())}


def blocks(samples: Sequence[Sample], n: int) -> list[Sequence[Sample]]:
    """The disjoint blocks of n samples a setting of n is scored on.

    >>> [len(b) for b in blocks(list(range(16)), 4)], [list(b) for b in blocks(list(range(5)), 2)]
    ([4, 4, 4, 4], [[0, 1], [2, 3]])
    """
    return [samples[j * n:(j + 1) * n] for j in range(len(samples) // n)] if n <= len(samples) else []


def _counts(drawn: Sequence[Sample]) -> list[int]:
    counts: dict[str, int] = {}
    for s in drawn:
        if s.answer is not None:
            counts[s.answer] = counts.get(s.answer, 0) + 1
    return sorted(counts.values(), reverse=True) + [0, 0]


def stopped_at(block: Sequence[Sample], stop: str, start: int = 0) -> int:
    """How many samples of the block a stop rule draws, having drawn ``start`` already.

    ``beta:C`` draws rounds of 2 until the leader cannot be overtaken or its Beta
    posterior reaches C; ``esc:W`` draws windows of W until one window agrees.

    >>> S = lambda a: Sample(a, False, 1)
    >>> stopped_at([S("1"), S("1"), S("2"), S("2")], "beta:0.8"), stopped_at([S("1"), S("2"), S("1"), S("3")], "beta:0.8")
    (2, 4)
    >>> stopped_at([S("1"), S("2"), S("3"), S("3")], "esc:2"), stopped_at([S("1"), S("2"), S("3"), S("4")], "none")
    (4, 4)
    """
    n = len(block)
    if stop == "none":
        return n
    kind, _, arg = stop.partition(":")
    drawn = start
    if kind == "esc":
        window = int(arg)
        while drawn < n:
            drawn = min(n, drawn + window)
            last = block[max(0, drawn - window):drawn]
            if last[0].answer is not None and all(s.answer == last[0].answer for s in last):
                return drawn
        return n
    threshold = float(arg)
    while drawn < n:
        if drawn:
            first, second = _counts(block[:drawn])[:2]
            if cannot_be_overtaken(first, second, n - drawn) or beta_confidence(first, second) >= threshold:
                return drawn
        drawn = min(n, drawn + ROUND)
    return n


def probe_is_easy(probe: Sequence[Sample], signal: str | None, threshold: float | None) -> bool:
    """The probe agrees (every sample answered the same) and, with a signal, is confident on average.

    >>> S = lambda a, c: Sample(a, False, 1, {"sc": c})
    >>> probe_is_easy([S("1", 2.0), S("1", 1.0)], None, None), probe_is_easy([S("1", 2.0), S("1", 1.0)], "sc", 1.6)
    (True, False)
    """
    first = probe[0].answer
    if first is None or any(s.answer != first for s in probe):
        return False
    if signal is None or threshold is None:
        return True
    values = [s.signals.get(signal) for s in probe]
    if any(v is None for v in values):
        return True  # no signal: agreement alone decides
    return sum(values) / len(values) >= threshold


def run_block(block: Sequence[Sample], setting: Setting) -> tuple[bool, int]:
    """(right?, completion tokens) of one block under a setting."""
    if setting.probe:
        probe = block[:setting.probe]
        if probe_is_easy(probe, setting.easy_signal, setting.easy_threshold):
            return bool(probe[0].correct), sum(s.tokens for s in probe)
        drawn = block[:stopped_at(block, setting.stop, start=setting.probe)]
    else:
        drawn = block[:stopped_at(block, setting.stop)]
    tokens = sum(s.tokens for s in drawn)
    if len(drawn) == 1:
        return bool(drawn[0].correct), tokens
    if setting.rule == "majority":  # as the vote runs it: ties to the higher mean log-prob, then the earliest
        top = winner(tally((i, s.answer, s.signals.get("mean-logprob")) for i, s in enumerate(drawn)))
        return (top is not None and bool(drawn[top.samples[0]].correct)), tokens
    chosen = select(setting.rule, drawn)
    if chosen.index is None:
        return False, tokens
    return bool(drawn[chosen.index].correct), tokens


def setting_blocks(q: Question, setting: Setting) -> list[Sequence[Sample]]:
    """The blocks a setting is scored on; an anchored probe puts the greedy reply first in each.

    >>> S = lambda a: Sample(a, False, 1)
    >>> q = Question("q", "k", {"d": [S("1"), S("2"), S("3")]}, {"d": S("g")})
    >>> [[s.answer for s in b] for b in setting_blocks(q, Setting("d", "majority", 2, probe=2, anchor=True))]
    [['g', '1'], ['g', '2'], ['g', '3']]
    """
    samples = q.samples[setting.style]
    if setting.anchor:
        return [[q.greedy[setting.style], *b] for b in blocks(samples, setting.samples - 1)]
    return blocks(samples, setting.samples)


def evaluate(setting: Setting, questions: Sequence[Question]) -> Point:
    """Score a setting on questions: per question, the mean over the draw's blocks."""
    correct, tokens = [], []
    for q in questions:
        if setting.rule == GREEDY:
            g = q.greedy[setting.style]
            correct.append(float(g.correct))
            tokens.append(float(g.tokens))
            continue
        results = [run_block(b, setting) for b in setting_blocks(q, setting)]
        correct.append(sum(r[0] for r in results) / len(results))
        tokens.append(sum(r[1] for r in results) / len(results))
    return Point(setting, correct, tokens, [q.kind for q in questions])


def coverage(questions: Sequence[Question], style: str, n: int) -> float:
    """The share of questions where some sample of the first n was right (what a perfect selector gets)."""
    hits = [any(s.correct for s in q.samples[style][:n]) for q in questions]
    return sum(hits) / len(hits) if hits else 0.0


def frontier(points: Sequence[Point]) -> list[Point]:
    """The compute-optimal frontier: points no other point beats on accuracy at no more tokens.

    >>> P = lambda a, t: Point(Setting("d", "majority"), [a], [t], ["x"])
    >>> [(p.accuracy, p.tokens_per_question) for p in frontier([P(0.2, 10), P(0.3, 20), P(0.25, 30), P(0.3, 25)])]
    [(0.2, 10.0), (0.3, 20.0)]
    """
    out: list[Point] = []
    for p in sorted(points, key=lambda p: (p.tokens_per_question, -p.accuracy)):
        if not out or p.accuracy > out[-1].accuracy + 1e-12:
            out.append(p)
    return out


def paired_se(a: Point, b: Point) -> float:
    """Standard error of the accuracy difference of two settings on the same questions.

    >>> P = lambda c: Point(Setting("d", "majority"), c, [1.0] * len(c), ["x"] * len(c))
    >>> paired_se(P([1, 0, 1, 0]), P([1, 0, 1, 0])), round(paired_se(P([1, 1, 0, 0]), P([0, 0, 1, 1])), 4)
    (0.0, 0.5774)
    """
    diffs = [x - y for x, y in zip(a.correct, b.correct, strict=True)]
    n = len(diffs)
    if n < 2:
        return 0.0
    mean = sum(diffs) / n
    return math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1) / n)


# -- choosing a setting per effort level --------------------------------------------

MEDIUM_SHARE = 0.35  # medium spends at most this share of high's tokens
AUTO_SHARE = 0.4  # auto spends at most this share of high's tokens
MARGIN_SE = 2.0  # a fancier rule must beat the simpler one by this many paired standard errors (cross-validated on the dev draw)
LAX_STOPS_NOT_HIGH: tuple[str, ...] = ("beta:0.8",)  # high keeps drawing while uncertain: it stops only once settled
KIND_SE = 1.0  # no level may fall this many paired standard errors below its reference on any kind (cross-validated: cv_choice.py)


def kind_deficit(p: Point, base: Point) -> float:
    """How far ``p`` falls below ``base`` on its worst kind of question, in standard errors
    of that kind's paired difference (0 when it is never worse).

    >>> P = lambda c, k: Point(Setting("d", "majority"), c, [1.0] * len(c), k)
    >>> kind_deficit(P([1, 1, 0, 0], "aabb"), P([1, 1, 1, 1], "aabb")) > 1, kind_deficit(P([1, 1], "ab"), P([0, 1], "ab"))
    (True, 0.0)
    """
    worst = 0.0
    for kind in sorted(set(p.kinds)):
        idx = [i for i, k in enumerate(p.kinds) if k == kind]
        diffs = [p.correct[i] - base.correct[i] for i in idx]
        mean = sum(diffs) / len(diffs)
        if mean >= 0:
            continue
        var = sum((d - mean) ** 2 for d in diffs) / max(len(diffs) - 1, 1) / len(diffs)
        worst = max(worst, -mean / math.sqrt(var) if var > 0 else math.inf)
    return worst


def not_below(pool: Sequence[Point], *refs: Point) -> list[Point]:
    """The points of ``pool`` that fall clearly below each of ``refs`` on no kind of question.

    A preset is judged on sets of one kind (word problems, say), so a plan that gains on
    one kind and loses on another may not stand in for its reference on the mixed dev set.
    Where no point passes, the pool stays as it was: the guard prefers, it never empties
    a level (that would send it back to ``low`` on every kind).

    >>> P = lambda c: Point(Setting("d", "majority"), c, [1.0] * len(c), "aaaabbbb")
    >>> ref, trade, fair = P([1, 1, 1, 1, 0, 0, 0, 0]), P([0, 0, 0, 0, 1, 1, 1, 1]), P([1, 1, 1, 0, 1, 1, 1, 1])
    >>> [p is fair for p in not_below([trade, fair], ref)], len(not_below([trade], ref))
    ([True], 1)
    """
    kept = list(pool)
    for ref in refs:
        kept = [p for p in kept if kind_deficit(p, ref) <= KIND_SE] or kept
    return kept


def _robust(p: Point, by_setting: dict[Setting, Point]) -> bool:
    """A signal-using rule may not lose clearly to plain majority (same draw, samples, stop)
    on any kind of question: the failure of a rule that wins one set and loses another."""
    if p.setting.family == 0:
        return True
    base = by_setting.get(_majority_of(p.setting))
    return base is None or kind_deficit(p, base) <= 2.0


def _majority_of(s: Setting) -> Setting:
    return replace(s, rule="majority")


def _pick(pool: list[Point], by_setting: dict[Setting, Point]) -> Point | None:
    """The most accurate point, unless a simpler rule is within MARGIN_SE of it: then the
    best of the simplest such family (ties to fewer tokens)."""
    pool = [p for p in pool if _robust(p, by_setting)]
    if not pool:
        return None
    best = max(pool, key=lambda p: (p.accuracy, -p.tokens_per_question))
    near = [p for p in pool if p.accuracy >= best.accuracy - MARGIN_SE * paired_se(p, best) - 1e-12]
    family = min(p.setting.family for p in near)
    return max((p for p in near if p.setting.family == family), key=lambda p: (p.accuracy, -p.tokens_per_question))


def _cheapest_reaching(pool: list[Point], floor: float, by_setting: dict[Setting, Point]) -> Point | None:
    """The cheapest robust point at least as accurate as ``floor`` (ties: the simpler rule)."""
    ok = [p for p in pool if p.accuracy >= floor - 1e-12 and _robust(p, by_setting)]
    return min(ok, key=lambda p: (p.tokens_per_question, p.setting.family, -p.accuracy)) if ok else None


def choose(points: Sequence[Point]) -> dict[str, Point]:
    """One point per effort level, from points scored on the calibration split.

    low: the best single sample (greedy or sampled). high: the best plan without a probe
    that may draw the whole budget (every sample of the draw): high effort keeps drawing
    while the answer is uncertain, and the chosen stop rule ends it where it is settled.
    medium: the best within MEDIUM_SHARE of high's tokens. auto: the best probe-first plan
    within AUTO_SHARE of high's tokens. No level may be less accurate than low: when its
    budget holds no such plan it takes the cheapest plan that is (low's own plan at worst).
    Kind by kind (``not_below``): high, medium and auto may fall clearly below low on no
    kind of question, and auto not below high, since each is judged on sets of one kind
    (where every plan in a level's pool would, the guard gives way).
    """
    by_setting = {p.setting: p for p in points}
    chosen: dict[str, Point] = {}
    singles = [p for p in points if p.setting.samples == 1 and not p.setting.probe]
    low = chosen["low"] = max(singles, key=lambda p: (p.accuracy, -p.tokens_per_question))
    plain = [p for p in points if not p.setting.probe and p.setting.samples > 1]
    budget = max((p.setting.samples for p in plain), default=0)
    full = [p for p in plain if p.setting.samples == budget and p.setting.stop not in LAX_STOPS_NOT_HIGH]
    high = _pick(not_below(full, low), by_setting)
    chosen["high"] = high = high if high is not None and high.accuracy >= low.accuracy else low
    cap = high.tokens_per_question
    for level, pool, share in (("medium", plain, MEDIUM_SHARE), ("auto", [p for p in points if p.setting.probe], AUTO_SHARE)):
        if level == "auto" and not pool:
            continue
        refs = (low,) if level == "medium" else (low, high)
        pick = _pick(not_below([p for p in pool if p.tokens_per_question <= share * cap], *refs), by_setting)
        if pick is None or pick.accuracy < low.accuracy:
            pick = _cheapest_reaching(not_below(pool, *refs), low.accuracy, by_setting) or low
        chosen[level] = pick
    return chosen
