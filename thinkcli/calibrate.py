"""`think calibrate`: one seeded draw per question, replayed into a per-model profile.

Owns, for a draw (``draws``: N samples per question and prompt style, in one batched
call each, plus one greedy sample), splitting the questions into a calibration and a
held-out part, scoring every setting of the grid on the
calibration part with ``replay``, choosing one setting per effort level there, and
reporting the chosen plans on the held-out part. The profile it returns is written
by ``profiles``. Nothing imports this module but the CLI and benchmarks.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from itertools import product

from thinkcli import replay
from thinkcli.draws import Draw
from thinkcli.errors import UsageError
from thinkcli.replay import Question, Setting


def split(questions: Sequence[Question], holdout: float, seed: int) -> tuple[list[Question], list[Question]]:
    """Calibration and held-out parts, the same share of every kind held out (seeded).

    >>> qs = [Question(str(i), "ab"[i % 2], {}) for i in range(10)]
    >>> cal, held = split(qs, 0.4, 0)
    >>> len(cal), len(held), sorted(q.kind for q in held)
    (6, 4, ['a', 'a', 'b', 'b'])
    """
    by_kind: dict[str, list[Question]] = {}
    for q in questions:
        by_kind.setdefault(q.kind, []).append(q)
    rng = random.Random(seed)
    held: set[str] = set()
    for kind in sorted(by_kind):
        group = list(by_kind[kind])
        rng.shuffle(group)
        held.update(q.id for q in group[:round(holdout * len(group))])
    return [q for q in questions if q.id not in held], [q for q in questions if q.id in held]


# -- the grid -------------------------------------------------------------------------

STOPS = ("none", "beta:0.8", "beta:0.95")  # what the vote strategy can stop on
FILTER_KEEP = (0.5, 0.9)
PROBES = (2,)
EASY_QUANTILES = (0.25, 0.5)


def rules_for(signals: Sequence[str]) -> list[str]:
    """Every selection rule over the signals the draw has.

    >>> rules_for(["mean-logprob"])
    ['majority', 'weighted:mean-logprob', 'filtered:mean-logprob:0.5', 'filtered:mean-logprob:0.9', 'best:mean-logprob', 'borda:mean-logprob']
    """
    out = ["majority"]
    for s in signals:
        out += [f"weighted:{s}", *(f"filtered:{s}:{k:g}" for k in FILTER_KEEP), f"best:{s}", f"borda:{s}"]
    return out


def counts(n: int) -> list[int]:
    """1, 2, 4, ... up to n (and n itself).

    >>> counts(16), counts(6)
    ([1, 2, 4, 8, 16], [1, 2, 4, 6])
    """
    out, k = [], 1
    while k < n:
        out.append(k)
        k *= 2
    return [*out, n]


def easy_thresholds(questions: Sequence[Question], style: str, probe: int, signal: str,
                    anchor: bool = False) -> list[float]:
    """Candidate confidence thresholds for auto's easy test: quantiles of the mean signal of
    agreeing probes on these questions."""
    values = []
    for q in questions:
        for chunk in replay.setting_blocks(q, Setting(style, "majority", probe, probe=probe, anchor=anchor)):
            if replay.probe_is_easy(chunk, None, None) and all(signal in s.signals for s in chunk):
                values.append(sum(s.signals[signal] for s in chunk) / probe)
    values.sort()
    return sorted({values[int(f * (len(values) - 1))] for f in EASY_QUANTILES}) if values else []


def grid(draw_: Draw, questions: Sequence[Question]) -> list[Setting]:
    """Every setting the replay scores: greedy, then each rule x sample count x stop, then auto's."""
    signals = draw_.signals()
    rules = rules_for(signals)
    settings: list[Setting] = []
    for style in draw_.styles:
        settings.append(Setting(style, replay.GREEDY))
        for n in counts(draw_.samples):
            if n == 1:
                settings.append(Setting(style, "majority", 1))
                continue
            for rule in rules:
                for stop in STOPS if n >= 4 else ("none",):
                    settings.append(Setting(style, rule, n, stop))
        auto_rules = ["majority", *(f"weighted:{s}" for s in signals)]
        for probe, anchor in product(PROBES, (False, True)):
            easy: list[tuple[str | None, float | None]] = [(None, None)]
            for s in signals:
                easy += [(s, t) for t in easy_thresholds(questions, style, probe, s, anchor)]
            for n in counts(draw_.samples):
                if n <= probe:
                    continue
                for rule, (signal, threshold), stop in product(auto_rules, easy, STOPS if n >= 4 else ("none",)):
                    settings.append(Setting(style, rule, n, stop, probe, signal, threshold, anchor))
    return settings


# -- from chosen settings to a profile, and the report -----------------------------------


def knobs(setting: Setting, temperature: float) -> dict:
    """The plan knobs a preset runs for a chosen setting (what the profile stores).

    >>> knobs(Setting("direct", "greedy"), 0.4)
    {'strategy': 'cot', 'samples': 1, 'prompt_style': 'direct', 'temperature': 0.0}
    >>> knobs(Setting("steps", "weighted:mean-logprob", 8, "beta:0.8"), 0.4)["round_size"]
    2
    """
    if setting.rule == replay.GREEDY or setting.samples == 1:
        temp = 0.0 if setting.rule == replay.GREEDY else temperature
        return {"strategy": "cot", "samples": 1, "prompt_style": setting.style, "temperature": temp}
    out = {"strategy": "auto" if setting.probe else "vote", "samples": setting.samples,
           "prompt_style": setting.style, "temperature": temperature, "select": setting.rule, "futility": False}
    if setting.stop.startswith("beta:"):
        out.update(round_size=replay.ROUND, confidence=float(setting.stop.split(":")[1]))
    else:  # fixed: every sample in one batch, no early stop
        out.update(round_size=setting.samples - setting.probe if setting.probe else setting.samples, confidence=1.0)
    if setting.probe:
        out["probe"] = setting.probe
        if setting.anchor:
            out["probe_greedy"] = True
        if setting.easy_signal:
            out.update(easy_signal=setting.easy_signal, easy_threshold=round(setting.easy_threshold, 6))
    return out


@dataclass
class Calibration:
    draw: Draw
    calibration: list[Question]
    heldout: list[Question]
    points: list[replay.Point]  # every setting on the calibration split
    chosen: dict[str, replay.Point]
    heldout_points: dict[str, replay.Point]  # the chosen settings on the held-out split
    baselines: dict[str, replay.Point]  # majority of 8 (or N) and one sample, held out

    def profile(self) -> dict:
        d = self.draw
        prof = {"key": d.model_key, "model": d.model, "calibrated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "data": d.data, "questions": len(self.calibration), "heldout_questions": len(self.heldout),
                "samples": d.samples, "styles": list(d.styles), "max_tokens": d.max_tokens, "seed": d.seed,
                "effort": {}}
        for level, p in self.chosen.items():
            entry = knobs(p.setting, d.temperature)
            entry.update(accuracy=round(p.accuracy, 4), tokens=round(p.tokens_per_question, 1), setting=p.setting.label)
            held = self.heldout_points.get(level)
            if held is not None:
                entry.update(heldout_accuracy=round(held.accuracy, 4), heldout_tokens=round(held.tokens_per_question, 1))
            prof["effort"][level] = entry
        return prof


def calibrate(draw_: Draw, holdout: float, seed: int) -> Calibration:
    """Score the grid on the calibration split, choose per effort level, report on the held-out split."""
    if not draw_.complete:
        raise UsageError(f"the draw is unfinished ({draw_.pending} question and style pairs to go); "
                         "run the think calibrate command that started it again to finish it")
    cal, held = split(draw_.questions, holdout, seed)
    if not cal:
        raise UsageError("no questions left to calibrate on; lower --holdout or give more questions")
    points = [replay.evaluate(s, cal) for s in grid(draw_, cal)]
    chosen = replay.choose(points)
    held_points = {level: replay.evaluate(p.setting, held) for level, p in chosen.items()} if held else {}
    baselines = {}
    if held:
        style = chosen["high"].setting.style
        n = min(8, draw_.samples)
        baselines = {f"majority of {n}": replay.evaluate(Setting(style, "majority", n), held),
                     "one sample": replay.evaluate(Setting(style, "majority", 1), held)}
    return Calibration(draw_, cal, held, points, chosen, held_points, baselines)


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def report(c: Calibration) -> str:
    """The accuracy-versus-tokens frontier, coverage, and the chosen plans with held-out figures."""
    d = c.draw
    lines = [f"{d.model}: {len(d.questions)} questions from {d.data} ({len(c.calibration)} calibrate, "
             f"{len(c.heldout)} held out), {d.samples} samples per style at temperature {d.temperature:g}, "
             f"max {d.max_tokens} tokens; drawn in {d.wall_s:.0f} s"
             + (f" ({', '.join(f'{k} {v:.0f} s' for k, v in d.style_wall_s.items())})" if len(d.style_wall_s) > 1 else ""),
             ""]
    for style in d.styles:
        lines.append(f"{style}: coverage (some sample right) of {d.samples}: {_pct(replay.coverage(c.calibration, style, d.samples))}")
    lines += ["", "compute-optimal frontier on the calibration split (accuracy vs completion tokens per question):"]
    rows = [("tokens/q", "accuracy", "setting")]
    rows += [(f"{p.tokens_per_question:.1f}", _pct(p.accuracy), p.setting.label) for p in replay.frontier(c.points)]
    lines += _table(rows)
    lines += ["", "chosen per effort level:"]
    rows = [("effort", "setting", "calibration", "tokens/q", "held-out", "tokens/q")]
    for level, p in c.chosen.items():
        h = c.heldout_points.get(level)
        rows.append((level, p.setting.label, _pct(p.accuracy), f"{p.tokens_per_question:.1f}",
                     _pct(h.accuracy) if h else "-", f"{h.tokens_per_question:.1f}" if h else "-"))
    for name, p in c.baselines.items():
        rows.append((f"({name})", p.setting.label, "", "", _pct(p.accuracy), f"{p.tokens_per_question:.1f}"))
    lines += _table(rows)
    return "\n".join(lines)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def as_json(c: Calibration, profile_path: str | None) -> dict:
    def point(p: replay.Point) -> dict:
        return {"setting": p.setting.label, **asdict(p.setting), "accuracy": round(p.accuracy, 4),
                "tokens_per_question": round(p.tokens_per_question, 2), "by_kind": p.by_kind()}

    frontier = {p.setting for p in replay.frontier(c.points)}
    return {"model": c.draw.model, "key": c.draw.model_key, "data": c.draw.data, "questions": len(c.draw.questions),
            "calibration_questions": len(c.calibration), "heldout_questions": len(c.heldout),
            "samples": c.draw.samples, "styles": c.draw.styles, "temperature": c.draw.temperature,
            "draw_wall_s": round(c.draw.wall_s, 1),
            "draw_wall_s_by_style": c.draw.style_wall_s, "profile": profile_path, "profile_knobs": c.profile()["effort"],
            "chosen": {k: point(p) for k, p in c.chosen.items()},
            "heldout": {k: point(p) for k, p in {**c.heldout_points, **c.baselines}.items()},
            "points": [point(p) | {"frontier": p.setting in frontier} for p in c.points]}


def plot(c: Calibration, path: str) -> None:
    """Every setting's accuracy against tokens, the frontier as a line, the chosen plans labelled."""
    from thinkcli.bench import plot_check

    plt = plot_check(path)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for style in c.draw.styles:
        pts = [p for p in c.points if p.setting.style == style]
        ax.scatter([p.tokens_per_question for p in pts], [100 * p.accuracy for p in pts], s=6, alpha=0.35, label=style)
    front = replay.frontier(c.points)
    ax.plot([p.tokens_per_question for p in front], [100 * p.accuracy for p in front], color="black", label="frontier")
    for level, p in c.chosen.items():
        ax.annotate(level, (p.tokens_per_question, 100 * p.accuracy), textcoords="offset points", xytext=(4, 4))
    ax.set_xscale("log")
    ax.set_xlabel("completion tokens per question")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{c.draw.model} · {c.draw.data}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path)
    finally:
        plt.close(fig)
