"""DeepConf online early stopping against the same fixed-N filtered vote, on the embedded model.

Issue 12's target: DeepConf online saves >= 30% of the completion tokens of the same
fixed-N confidence-filtered vote (DeepConf offline), accuracy within 2 points.

Both arms run ``engine.run`` on one loaded backend with the same seeds per question
(question q, sample i: seed SEED + 1000q + i), the same N, prompt style, temperature
and final rule ``filtered:deepconf-lowest-group:KEEP``:

  fixed    all N samples drawn in one batch, then the filtered vote.
  online   the first WARMUP samples drawn in full; their lowest-group confidences set
           the threshold that keeps the top KEEP of them; the other N - WARMUP samples
           are decoded in one batch with that threshold, a sample whose window
           confidence drops below it is stopped and its slot goes to the next sample;
           stopped samples do not vote.

Tune on one generated set (``--tune DEV.jsonl``: every WARMUP x KEEP x WINDOW of the
grid, the best that meets the accuracy bound at the least tokens), report on another
(``--data``) with the tuned knobs: never tune on what is reported.

    python scripts/make_arith.py --seed 11 --count 40 --out /tmp/dc-dev.jsonl
    python scripts/make_arith.py --seed 12 --count 60 --out /tmp/dc-test.jsonl
    flock /tmp/thinkcli-model.lock python benchmarks/bench_deepconf.py \\
        --tune /tmp/dc-dev.jsonl --data /tmp/dc-test.jsonl [--samples 8] [--max-tokens 64]
        [--tune-limit K] [--limit K] [--warmups 2,4] [--keeps 0.1,0.5] [--windows 0]
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from thinkcli.backends.llama import LlamaBackend  # noqa: E402
from thinkcli.backends.models import embedded_model_path  # noqa: E402
from thinkcli.bench import Item, is_correct, load_items  # noqa: E402
from thinkcli.engine import Request, run  # noqa: E402
from thinkcli.events import NullSink  # noqa: E402

SEED = 0


@dataclass(frozen=True)
class Knobs:
    warmup: int = 0  # 0 = the fixed arm
    keep: float = 0.9
    window: int = 0  # 0 = the default (signals.default_window)

    def label(self) -> str:
        arm = f"online warmup={self.warmup}" if self.warmup else "fixed"
        return f"{arm} keep={self.keep:g} window={self.window or 'default'}"


@dataclass
class Arm:
    knobs: Knobs
    correct: int = 0
    total: int = 0
    tokens: int = 0
    stopped: int = 0
    wall: float = 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / max(1, self.total)


def run_arm(backend, items: list[Item], knobs: Knobs, args) -> Arm:
    arm = Arm(knobs)
    overrides = {"round_size": args.samples, "confidence": 1.0,
                 "select": f"filtered:deepconf-lowest-group:{knobs.keep:g}",
                 "online_warmup": knobs.warmup, "online_keep": knobs.keep}
    if knobs.window:
        overrides["extra"] = {"group_window": knobs.window}
    start = time.perf_counter()
    for q, item in enumerate(items):
        req = Request(item.question, strategy="vote", samples=args.samples, max_tokens=args.max_tokens,
                      temperature=args.temperature, seed=SEED + 1000 * q, prompt_style=args.style,
                      plan_overrides=dict(overrides))
        result = run(req, NullSink(), backend=backend)
        arm.total += 1
        arm.correct += is_correct(item, result.answer, "")
        arm.tokens += result.usage.completion_tokens
        arm.stopped += sum(c.finish_reason == "low-confidence" for c in result.candidates)
    arm.wall = time.perf_counter() - start
    return arm


def show(arm: Arm, base: Arm | None = None) -> str:
    vs = f" tokens x{arm.tokens / base.tokens:.2f} acc {100 * (arm.accuracy - base.accuracy):+.1f} pts" if base else ""
    return (f"  {arm.knobs.label():40} acc {100 * arm.accuracy:5.1f}% ({arm.correct}/{arm.total})  "
            f"tokens {arm.tokens:6d}  stopped {arm.stopped:4d}  {arm.wall:6.1f} s{vs}")


def compare(backend, items: list[Item], knobs: Knobs, args) -> tuple[Arm, Arm]:
    fixed = run_arm(backend, items, Knobs(0, knobs.keep, knobs.window), args)
    online = run_arm(backend, items, knobs, args)
    return fixed, online


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="JSONL set the figures are reported on")
    ap.add_argument("--tune", help="JSONL dev set the online knobs are chosen on (else --warmup/--keep/--window)")
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--temperature", type=float, default=0.4)
    ap.add_argument("--style", default="direct")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="questions of --data used")
    ap.add_argument("--tune-limit", type=int, default=None, help="questions of --tune used")
    ap.add_argument("--warmups", default="2,4", help="grid of warm-up sizes when tuning")
    ap.add_argument("--keeps", default="0.1,0.5", help="grid of keep fractions when tuning")
    ap.add_argument("--windows", default="0", help="grid of group windows when tuning (0 = default)")
    ap.add_argument("--warmup", type=int, default=4)
    ap.add_argument("--keep", type=float, default=0.5)
    ap.add_argument("--window", type=int, default=0)
    args = ap.parse_args()

    backend = LlamaBackend(embedded_model_path(), threads=args.threads)
    print(f"N={args.samples} max_tokens={args.max_tokens} temperature={args.temperature} style={args.style} "
          f"threads={backend.threads}")
    chosen = Knobs(args.warmup, args.keep, args.window)
    if args.tune:
        dev = load_items(args.tune, args.tune_limit)
        print(f"\ntuning on {args.tune} ({len(dev)} questions):")
        best = None
        fixed_cache: dict[tuple[float, int], Arm] = {}
        for warmup, keep, window in itertools.product([int(x) for x in args.warmups.split(",")],
                                                      [float(x) for x in args.keeps.split(",")],
                                                      [int(x) for x in args.windows.split(",")]):
            if (keep, window) not in fixed_cache:
                fixed_cache[(keep, window)] = run_arm(backend, dev, Knobs(0, keep, window), args)
                print(show(fixed_cache[(keep, window)]), flush=True)
            base = fixed_cache[(keep, window)]
            online = run_arm(backend, dev, Knobs(warmup, keep, window), args)
            print(show(online, base), flush=True)
            ok = online.accuracy >= base.accuracy - 0.02
            score = (ok, -online.tokens / base.tokens)
            if best is None or score > best[0]:
                best = (score, online.knobs)
        chosen = best[1]
        print(f"chosen on the dev set: {chosen.label()}")
    items = load_items(args.data, args.limit)
    print(f"\nreported on {args.data} ({len(items)} questions):")
    fixed, online = compare(backend, items, chosen, args)
    backend.close()
    print(show(fixed))
    print(show(online, fixed))
    saved = 1 - online.tokens / fixed.tokens
    gap = 100 * (online.accuracy - fixed.accuracy)
    print(f"\nDeepConf online saves {100 * saved:.1f}% of the fixed-{args.samples} filtered vote's completion tokens "
          f"(target >= 30%): {'met' if saved >= 0.30 else 'NOT met'}; accuracy {gap:+.1f} points "
          f"(target within 2): {'met' if gap >= -2.0 else 'NOT met'}")


if __name__ == "__main__":
    main()
