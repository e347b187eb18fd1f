"""Cross-validate how `think calibrate` chooses plans, on a saved draw's calibration split only.

The held-out split and the benchmark sets stay unseen: the calibration questions are split
12 times (stratified by kind, about 70% to choose on and 30% to check), the effort levels are
chosen on the first part and scored on the second, and the mean gaps are printed for the
shipped choice rule (A: the most accurate plan, unless a simpler rule is within noise), for
an alternative (B: the cheapest plan within noise of the best, of the simplest rule) and
for A without the kind-by-kind guard (C: ``replay.not_below`` off), with auto chosen
within a smaller share of high's tokens (D: 0.36), with high allowed the lax stop at
posterior 0.8 (H: ``replay.LAX_STOPS_NOT_HIGH`` empty), and with a laxer guard (K: 2 SE).
Two more ways to choose auto alone: the plan with the best pessimistic gap to high
(L: accuracy - high's - 1 paired SE, so a plan that moves with high is preferred), and the
plan that spends the most among those within noise of the best (M: within 1 paired SE).
"worst kind" is the mean over splits of the lowest per-kind gap (auto - high, high - low)
on the check part.

Usage: python benchmarks/cv_choice.py DRAW.json   (a draw saved by `think calibrate --draw`)
"""
import sys
import time

from thinkcli import calibrate, draws, replay
from thinkcli.replay import Point

d = draws.load(sys.argv[1])
cal, _ = calibrate.split(d.questions, 0.3, d.seed)
t = time.time()
points = [replay.evaluate(s, cal) for s in calibrate.grid(d, cal)]
print(f"grid {len(points)} in {time.time()-t:.0f} s", flush=True)
idx = {q.id: i for i, q in enumerate(cal)}
by = {p.setting: p for p in points}


def sub(p, ids):
    return Point(p.setting, [p.correct[i] for i in ids], [p.tokens[i] for i in ids], [p.kinds[i] for i in ids])



def pick_cheap(pool, by_setting):
    pool = [p for p in pool if replay._robust(p, by_setting)]
    if not pool:
        return None
    best = max(pool, key=lambda p: (p.accuracy, -p.tokens_per_question))
    near = [p for p in pool if p.accuracy >= best.accuracy - replay.MARGIN_SE * replay.paired_se(p, best) - 1e-12]
    family = min(p.setting.family for p in near)
    return min((p for p in near if p.setting.family == family), key=lambda p: (p.tokens_per_question, -p.accuracy))


def worst_kind_gap(p: Point, ref: Point) -> float:
    """The lowest, over kinds of question, of p's accuracy minus ref's."""
    mine, theirs = p.by_kind(), ref.by_kind()
    return min(mine[k] - theirs[k] for k in mine)


def auto_by(points: list[Point], better) -> dict[str, Point]:
    """The shipped choice, with auto re-chosen among the same guarded pool by ``better(p, best, high)``."""
    ch = replay.choose(points)
    by_setting = {p.setting: p for p in points}
    low, high = ch["low"], ch["high"]
    pool = [p for p in points if p.setting.probe and p.tokens_per_question <= replay.AUTO_SHARE * high.tokens_per_question]
    pool = [p for p in replay.not_below(pool, low, high) if replay._robust(p, by_setting)]
    if pool:
        best = max(pool, key=lambda p: (p.accuracy, -p.tokens_per_question))
        pick = max(pool, key=lambda p: better(p, best, high))
        if pick.accuracy >= low.accuracy:
            ch["auto"] = pick
    return ch


def pessimistic_gap(p: Point, best: Point, high: Point) -> tuple:
    return (p.accuracy - high.accuracy - replay.paired_se(p, high), p.setting.family == 0, -p.tokens_per_question)


def spends_most_near_best(p: Point, best: Point, high: Point) -> tuple:
    near = p.accuracy >= best.accuracy - replay.paired_se(p, best) - 1e-12
    return (near, -p.setting.family if near else 0, p.tokens_per_question if near else 0, p.accuracy)


# each policy: the replay knobs it changes from the shipped rule (A), or how it re-chooses auto
policies = {"A shipped": {}, "B cheapest-near": {"_pick": pick_cheap},
            "C no kind guard": {"KIND_SE": float("inf")},  # replay.not_below off
            "D auto share 0.36": {"AUTO_SHARE": 0.36},  # less than the 0.4 the target allows
            "H high may stop at 0.8": {"LAX_STOPS_NOT_HIGH": ()},
            "K kind guard at 2 SE": {"KIND_SE": 2.0},
            "L auto: pessimistic gap to high": {"auto": pessimistic_gap},
            "M auto: spends most within 1 SE": {"auto": spends_most_near_best}}


def choose_with(points: list[Point], changes: dict) -> dict[str, Point]:
    """replay.choose with some of its module knobs changed for this one call."""
    shipped = {k: getattr(replay, k) for k in changes}
    for k, v in changes.items():
        setattr(replay, k, v)
    try:
        return replay.choose(points)
    finally:
        for k, v in shipped.items():
            setattr(replay, k, v)


res = {k: [] for k in policies}
for seed in range(1, 13):
    choose_q, check_q = calibrate.split(cal, 0.3, seed)
    ci = [idx[q.id] for q in choose_q]
    ki = [idx[q.id] for q in check_q]
    cp = [sub(p, ci) for p in points]
    for name, changes in policies.items():
        ch = auto_by(cp, changes["auto"]) if "auto" in changes else choose_with(cp, changes)
        chk = {lvl: sub(by[p.setting], ki) for lvl, p in ch.items()}
        h, a, lo, m = chk["high"], chk["auto"], chk["low"], chk["medium"]
        res[name].append((a.accuracy - h.accuracy, a.tokens_per_question / h.tokens_per_question,
                          h.accuracy - lo.accuracy, m.accuracy - h.accuracy, m.tokens_per_question / h.tokens_per_question,
                          ch["auto"].setting.label, ch["high"].setting.label,
                          worst_kind_gap(a, h), worst_kind_gap(h, lo)))


def mean(rows: list[tuple], k: int) -> float:
    return sum(r[k] for r in rows) / len(rows)


for name, rows in res.items():
    print(name)
    for r in rows:
        print(f"   auto-high {100 * r[0]:+5.1f} share {r[1]:.2f} | high-low {100 * r[2]:+5.1f} | "
              f"med-high {100 * r[3]:+5.1f} share {r[4]:.2f} | {r[5]} | {r[6]}")
    print(f" mean: auto-high {100 * mean(rows, 0):+.2f} share {mean(rows, 1):.3f}; high-low {100 * mean(rows, 2):+.2f}; "
          f"medium-high {100 * mean(rows, 3):+.2f} share {mean(rows, 4):.3f}; "
          f"auto within 2: {sum(r[0] >= -0.02 for r in rows)}/{len(rows)}, share<=0.4: {sum(r[1] <= 0.4 for r in rows)}/{len(rows)}; "
          f"worst kind: auto-high {100 * mean(rows, 7):+.2f}, high-low {100 * mean(rows, 8):+.2f}")
