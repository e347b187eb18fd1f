"""Accuracy and compute of cot, vote (fixed and adaptive) and auto on the shipped arithmetic set.

Runs every question through ``engine.run`` on one loaded embedded model, with the
same seeds for every strategy (question q, sample i uses seed SEED + 1000q + i), so
adaptive vote's samples are a prefix of fixed vote's and the comparison is paired.
A seeded llama.cpp sample is a pure function of (prompt, parameters, seed), so
``Replay`` draws each one once and replays it to every strategy that asks for the
same seed: cot, adaptive vote and auto cost no extra decoding on a shared 2-core
machine, and their token counts are exactly those of the samples they drew
(wall times of replayed cells are not decoding times; ``--no-replay`` measures them).
Prints the table and the issue's targets as ratios measured in this one run:

- vote@8 (fixed) beats cot by >= 8 accuracy points;
- adaptive vote uses <= 60% of fixed-8's completion tokens, accuracy within 2 points;
- auto (the --effort auto preset) is at least as accurate as fixed-8 with fewer tokens.

Usage: python benchmarks/bench_strategies.py [--limit K] [--max-tokens 128] [--seed 0]
       [--temperature 0.7] [--styles direct[,steps]] [--json FILE] [--plot FILE.png] [--threads 1] [--cache FILE]
       [--round-size R] [--confidence C] [--futility] [--no-replay]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from dataclasses import replace

from thinkcli import bench, config
from thinkcli.engine import Request, load_backend
from thinkcli.strategies import EFFORTS


class Replay:
    """A backend wrapper that draws each (messages, params, seed) sample once and replays it."""

    def __init__(self, backend, path: str | None = None) -> None:
        self.backend = backend
        self.model, self.capabilities, self.context_size = backend.model, backend.capabilities, backend.context_size
        self.path = path  # samples persist here, so later runs (other thresholds, round sizes) decode nothing
        self.cache: dict[tuple, list] = {}
        if path and os.path.exists(path):
            with open(path, "rb") as f:
                self.cache = pickle.load(f)
        self.drawn = self.replayed = 0

    def save(self) -> None:
        if self.path:
            with open(self.path, "wb") as f:
                pickle.dump(self.cache, f)

    def generate(self, messages, params, n=1):
        for i in range(n):
            one = params.with_(seed=params.seed + i) if params.seed is not None else params
            key = (repr(messages), one)
            if key not in self.cache or one.seed is None:
                self.drawn += 1
                self.cache[key] = list(self.backend.generate(messages, one, 1))
            else:
                self.replayed += 1
            for event in self.cache[key]:
                yield replace(event, sample=i)

    def complete(self, prompt, params, n=1):
        return self.backend.complete(prompt, params, n)

    def chat_prompt(self, messages):
        return self.backend.chat_prompt(messages)

    def count_tokens(self, text):
        return self.backend.count_tokens(text)

    def close(self):
        self.backend.close()


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
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (1 is fastest on a busy machine)")
    parser.add_argument("--cache", default=None, help="keep decoded samples in this file across runs")
    parser.add_argument("--round-size", type=int, default=None, help="samples per adaptive round")
    parser.add_argument("--confidence", type=float, default=None, help="adaptive stop threshold")
    parser.add_argument("--futility", action="store_true", help="adaptive vote with the futility stop (a plan knob, off by default)")
    parser.add_argument("--no-replay", action="store_true", help="decode every cell's samples afresh")
    args = parser.parse_args()

    items = bench.load_items(args.data, args.limit)
    settings = config.load()
    settings["threads"] = args.threads
    backend = load_backend(Request("", model=args.model, settings=settings))
    if not args.no_replay:
        backend = Replay(backend, args.cache)
    auto_n = EFFORTS["auto"]["samples"]
    cells = []
    for style in args.styles.split(","):
        cells += [
            bench.Cell("cot", 1, style),
            bench.Cell("vote", args.samples, style, fixed=True),
            bench.Cell("vote", args.samples, style),
            bench.Cell("auto", auto_n, style),
        ]
    curve = [bench.Cell("vote", n, style, fixed=True) for style in args.styles.split(",")
             for n in (2, 4) if n < args.samples]  # the scaling curve; replayed samples, no extra decoding

    def progress(cell, done, total):
        if isinstance(backend, Replay) and done % 10 == 0:
            backend.save()  # a killed run keeps what it decoded
        if done == total:
            print(f"  {cell.label}: done", file=sys.stderr, flush=True)

    started = time.monotonic()
    try:
        results = bench.run_grid(items, cells + curve, backend, seed=args.seed, max_tokens=args.max_tokens,
                                 temperature=args.temperature, confidence=args.confidence,
                                 round_size=args.round_size, futility=True if args.futility else None,
                                 settings=settings, progress=progress)
    finally:
        if isinstance(backend, Replay):
            backend.save()
        backend.close()
    print(f"{len(items)} questions from {args.data} on {backend.model}; max_tokens={args.max_tokens}, "
          f"seed={args.seed}, temperature={args.temperature or 'default'}; {time.monotonic() - started:.0f} s\n")
    print(bench.table(results))
    if isinstance(backend, Replay):
        print(f"\n{backend.drawn} samples decoded, {backend.replayed} replayed to other strategies")
    for k, style in enumerate(args.styles.split(",")):
        cot, fixed, adaptive, auto = results[4 * k:4 * k + 4]
        print(f"\n[{style}] one sample on its own, averaged over all {fixed.samples_drawn} samples of "
              f"fixed-{args.samples}: {100 * fixed.sample_accuracy:.1f}% (cot drew only sample 0 of each question)")
        print(f"[{style}] targets:")
        gain = 100 * (fixed.accuracy - cot.accuracy)
        print(f"  vote@{args.samples} - cot = {gain:+.1f} points (target >= +8): {'met' if gain >= 8 - 1e-9 else 'MISSED'}")
        ratio = adaptive.completion_tokens / max(fixed.completion_tokens, 1)
        gap = 100 * (adaptive.accuracy - fixed.accuracy)
        ok = ratio <= 0.60 and gap >= -2 - 1e-9
        print(f"  adaptive/fixed tokens = {ratio:.2f} (target <= 0.60), accuracy {gap:+.1f} points "
              f"(target >= -2): {'met' if ok else 'MISSED'}")
        ratio = auto.completion_tokens / max(fixed.completion_tokens, 1)
        gap = 100 * (auto.accuracy - fixed.accuracy)
        ok = ratio < 1 and gap >= -1e-9
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
