#!/usr/bin/env python3
"""What a seeded run pays for repeating exactly in a long-lived process, as ratios in one run.

    python benchmarks/bench_seeded.py [--questions 12] [--effort medium]

A seeded run (``--seed``, a ``seed`` in a `think serve` request, a calibration draw) starts
from an empty prompt cache (``engine.forget_cache``), so its samples do not depend on what
the process decoded before. The cost is evaluating the prompt from scratch once per run
instead of re-reading only where it differs from the previous run's (the prompt style's long
system prompt is shared by every question). This runs the first K questions of the shipped
dev set, each at ``--effort E`` with seed q, on one loaded embedded model, twice: as shipped
(forgetting) and with the forgetting turned off. The two alternate per question so machine
noise hits both alike. It prints each mode's wall time, completion tokens and prompt tokens
evaluated, the wall-time ratio, and whether each mode repeated itself: the first K questions
are run again in reverse order after a different question, and each answer's samples are
compared with the first pass.
"""

from __future__ import annotations

import argparse
import time

import thinkcli
from thinkcli import bench, engine

parser = argparse.ArgumentParser()
parser.add_argument("--questions", type=int, default=12)
parser.add_argument("--effort", default="medium")
args = parser.parse_args()

items = bench.load_items("dev", args.questions)
model = thinkcli.load_model()
shipped_forget = engine.forget_cache


def run(item, q: int, forget: bool):
    engine.forget_cache = shipped_forget if forget else (lambda backend: None)
    try:
        t = time.perf_counter()
        result = thinkcli.run(item.question, model=model, effort=args.effort, seed=q)
        return time.perf_counter() - t, result
    finally:
        engine.forget_cache = shipped_forget


totals = {True: [0.0, 0, 0], False: [0.0, 0, 0]}
first: dict[tuple[bool, int], list[str]] = {}
for q, item in enumerate(items):
    for forget in ((True, False) if q % 2 == 0 else (False, True)):
        wall, result = run(item, q, forget)
        u = result.usage
        totals[forget][0] += wall
        totals[forget][1] += u.completion_tokens
        totals[forget][2] += u.prompt_tokens - u.cached_tokens
        first[forget, q] = [c.text for c in result.candidates]

repeated = {True: 0, False: 0}
for q in reversed(range(len(items))):
    for forget in (True, False):
        _, result = run(items[q], q, forget)
        repeated[forget] += [c.text for c in result.candidates] == first[forget, q]

print(f"{len(items)} dev questions at --effort {args.effort}, one loaded model")
for forget, name in ((True, "seeded, forgets the cache (shipped)"), (False, "seeded, keeps the cache")):
    wall, done, evaluated = totals[forget]
    print(f"  {name:38s} {wall:6.1f} s  {done:6d} completion tokens  {evaluated:6d} prompt tokens evaluated  "
          f"{1000 * wall / max(done, 1):.1f} ms/token  repeats {repeated[forget]}/{len(items)}")
f, k = totals[True], totals[False]
print(f"wall ratio forget/keep: {f[0] / k[0]:.3f}; per completion token: "
      f"{(f[0] / max(f[1], 1)) / (k[0] / max(k[1], 1)):.3f}")
