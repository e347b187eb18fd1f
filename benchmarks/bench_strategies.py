"""Accuracy and compute of cot, vote (fixed and adaptive) and auto on the shipped arithmetic set.

Runs every question through ``engine.run`` on one loaded embedded model, with the
same seeds for every strategy (question q, sample i uses seed SEED + 1000q + i), so
adaptive vote's samples are a prefix of fixed vote's and the comparison is paired.
Prints the table and the issue's targets as ratios measured in this one run:

- vote@8 (fixed) beats cot by >= 8 accuracy points;
- adaptive vote uses <= 60% of fixed-8's completion tokens, accuracy within 2 points;
- auto (the --effort auto preset) is at least as accurate as fixed-8 with fewer tokens.

Usage: python benchmarks/bench_strategies.py [--limit K] [--max-tokens 128] [--seed 0]
       [--temperature 0.7] [--styles direct[,steps]] [--json FILE] [--plot FILE.png]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from thinkcli import bench, config
from thinkcli.engine import Request, load_backend
from thinkcli.strategies import EFFORTS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="arith")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--styles", default="direct")
    parser.add_argument("--model", default=None)
    parser.add_argument("--json", dest="json_out", default=None)
    parser.add_argument("--plot", default=None)
    args = parser.parse_args()

    items = bench.load_items(args.data, args.limit)
    settings = config.load()
    backend = load_backend(Request("", model=args.model, settings=settings))
    auto_n = EFFORTS["auto"]["samples"]
    cells = []
    for style in args.styles.split(","):
        cells += [
            bench.Cell("cot", 1, style),
            bench.Cell("vote", args.samples, style, fixed=True),
            bench.Cell("vote", args.samples, style),
            bench.Cell("auto", auto_n, style),
        ]

    def progress(cell, done, total):
        if done == total:
            print(f"  {cell.label}: done", file=sys.stderr, flush=True)

    started = time.monotonic()
    try:
        results = bench.run_grid(items, cells, backend, seed=args.seed, max_tokens=args.max_tokens,
                                 temperature=args.temperature, settings=settings, progress=progress)
    finally:
        backend.close()
    print(f"{len(items)} questions from {args.data} on {backend.model}; max_tokens={args.max_tokens}, "
          f"seed={args.seed}, temperature={args.temperature or 'default'}; {time.monotonic() - started:.0f} s\n")
    print(bench.table(results))
    for style in args.styles.split(","):
        cot, fixed, adaptive, auto = [r for r in results if r.prompt_style == style or style == "default"][:4]
        print(f"\n[{style}] targets:")
        gain = 100 * (fixed.accuracy - cot.accuracy)
        print(f"  vote@{args.samples} - cot = {gain:+.1f} points (target >= +8): {'met' if gain >= 8 else 'MISSED'}")
        ratio = adaptive.completion_tokens / max(fixed.completion_tokens, 1)
        gap = 100 * (adaptive.accuracy - fixed.accuracy)
        ok = ratio <= 0.60 and gap >= -2
        print(f"  adaptive/fixed tokens = {ratio:.2f} (target <= 0.60), accuracy {gap:+.1f} points "
              f"(target >= -2): {'met' if ok else 'MISSED'}")
        ratio = auto.completion_tokens / max(fixed.completion_tokens, 1)
        gap = 100 * (auto.accuracy - fixed.accuracy)
        ok = ratio < 1 and gap >= 0
        print(f"  auto/fixed tokens = {ratio:.2f} (target < 1), accuracy {gap:+.1f} points (target >= 0): "
              f"{'met' if ok else 'MISSED'}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"data": args.data, "model": backend.model, "max_tokens": args.max_tokens, "seed": args.seed,
                       "cells": [r.as_dict() for r in results]}, f, indent=2)
    if args.plot:
        bench.plot(results, args.plot, title=f"{args.data} · {backend.model}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
