"""The effort presets against the issue's targets, on data calibration never chose on.

Runs `--effort low|medium|high|auto` (whatever the model's profile says they are) and a
plain majority vote of 8 through ``engine.run`` on one loaded model, over two sets:
the held-out split of the shipped dev set (the same stratified split `think calibrate`
holds out) and a second set from ``scripts/make_heldout.py``, worded differently.
Question q uses seeds SEED+1000q+i. ``BatchReplay`` decodes each seeded sample once, in
batches, and replays it to every preset that asks for the same seed, so the presets
are compared on paired samples and token counts are those of the samples each drew.
Prints both tables and the targets, as measured in this one run:

- high >= low and high >= majority of 8 on each set; high - low >= 10 points on average;
- auto within 2 points of high, at <= 40% of high's completion tokens.

Usage: python benchmarks/bench_presets.py [--seed 7] [--max-tokens 64] [--threads 1]
       [--heldout-count 120] [--limit K] [--cache FILE] [--json FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pickle
import sys
import time
from dataclasses import replace
from pathlib import Path

from thinkcli import bench, calibrate, config
from thinkcli.engine import Request, load_backend, run
from thinkcli.events import Generation, NullSink
from thinkcli.strategies.base import Plan

ROOT = Path(__file__).resolve().parent.parent
# majority of 8 first: it decodes 8 seeds in one batch, which the presets then replay
PRESETS = ("majority of 8", "high", "medium", "auto", "low")


class BatchReplay:
    """A backend wrapper that decodes each (conversation, params, seed) sample once, a batch
    of the missing seeds at a time, and replays it to every later call asking for it."""

    def __init__(self, backend, path: str | None = None) -> None:
        self.backend = backend
        self.model, self.capabilities, self.context_size = backend.model, backend.capabilities, backend.context_size
        self.path = getattr(backend, "path", None)
        self.cache_path = path
        self.cache: dict[tuple, list] = {}
        if path and os.path.exists(path):
            with open(path, "rb") as f:
                self.cache = pickle.load(f)
        self.drawn = self.replayed = 0

    def save(self) -> None:
        if self.cache_path:
            with open(self.cache_path, "wb") as f:
                pickle.dump(self.cache, f)

    def generate(self, messages, params, n=1):
        if params.seed is None:
            yield from self.backend.generate(messages, params, n)
            return
        base = (repr(messages), params.with_(seed=None))
        missing = [i for i in range(n) if base + (params.seed + i,) not in self.cache]
        if missing:  # one batched call for the missing seeds from the first missing one
            first = missing[0]
            events = self.backend.generate(messages, params.with_(seed=params.seed + first), n - first)
            for e in events:
                if isinstance(e, Generation):
                    self.cache[base + (params.seed + first + e.sample,)] = e
            self.drawn += n - first
        self.replayed += len(range(n)) - len(missing)
        for i in range(n):
            yield replace(self.cache[base + (params.seed + i,)], sample=i)

    def complete(self, prompt, params, n=1):
        return self.backend.complete(prompt, params, n)

    def chat_prompt(self, messages):
        return self.backend.chat_prompt(messages)

    def count_tokens(self, text):
        return self.backend.count_tokens(text)

    def close(self):
        self.backend.close()


def heldout_items(count: int) -> list[bench.Item]:
    spec = importlib.util.spec_from_file_location("make_heldout", ROOT / "scripts/make_heldout.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = "".join(json.dumps(r) + "\n" for r in module.make(99, count))
    return bench.parse_jsonl(text, "heldout")


def request_for(preset: str, question: str, seed: int, max_tokens: int) -> Request:
    if preset != "majority of 8":
        return Request(question, effort=preset, seed=seed, max_tokens=max_tokens)
    # plain majority of 8, drawn at once, at the prompt style and temperature of the high preset
    overrides = {"round_size": 8, "confidence": 1.0}
    if "select" in Plan.__dataclass_fields__:
        overrides["select"] = "majority"
    if "futility" in Plan.__dataclass_fields__:
        overrides["futility"] = False
    return Request(question, effort="high", strategy="vote", samples=8, seed=seed, max_tokens=max_tokens,
                   plan_overrides=overrides)


def run_set(name: str, items: list[bench.Item], backend, seed: int, max_tokens: int) -> dict:
    rows = {}
    for preset in PRESETS:
        correct = tokens = drawn = 0
        by_kind: dict[str, list[int]] = {}
        started = time.monotonic()
        plan = None
        for q, item in enumerate(items):
            result = run(request_for(preset, item.question, seed + bench.SEED_STRIDE * q, max_tokens), NullSink(),
                         backend=backend)
            right = bench.is_correct(item, result.answer, "")
            correct += right
            by_kind.setdefault(item.kind or "-", []).append(int(right))
            tokens += result.usage.completion_tokens
            drawn += result.samples_drawn
            plan = result.plan
        rows[preset] = {"accuracy": correct / len(items), "correct": correct, "questions": len(items),
                        "tokens_per_question": tokens / len(items), "samples_per_question": drawn / len(items),
                        "wall_s": time.monotonic() - started, "plan": plan,
                        "by_kind": {k: sum(v) / len(v) for k, v in sorted(by_kind.items())}}
        print(f"  {name} {preset}: {100 * correct / len(items):.1f}% at {tokens / len(items):.1f} tokens/q",
              file=sys.stderr, flush=True)
        if isinstance(backend, BatchReplay):
            backend.save()
    return rows


def targets(sets: dict[str, dict]) -> list[str]:
    out, gains = [], []
    for name, rows in sets.items():
        hi, lo, maj, auto = (rows[k] for k in ("high", "low", "majority of 8", "auto"))
        gain = 100 * (hi["accuracy"] - lo["accuracy"])
        gains.append(gain)
        ok = hi["accuracy"] >= lo["accuracy"] - 1e-9 and hi["accuracy"] >= maj["accuracy"] - 1e-9
        out.append(f"  [{name}] high {100 * hi['accuracy']:.1f}% vs low {100 * lo['accuracy']:.1f}% ({gain:+.1f}) "
                   f"and majority of 8 {100 * maj['accuracy']:.1f}%: {'met' if ok else 'MISSED'}")
        gap = 100 * (auto["accuracy"] - hi["accuracy"])
        ratio = auto["tokens_per_question"] / max(hi["tokens_per_question"], 1e-9)
        ok = gap >= -2 - 1e-9 and ratio <= 0.40
        out.append(f"  [{name}] auto {gap:+.1f} points vs high (>= -2) at {ratio:.2f} of its tokens (<= 0.40): "
                   f"{'met' if ok else 'MISSED'}")
    mean = sum(gains) / len(gains)
    out.append(f"  high - low averaged over the sets: {mean:+.1f} points (>= +10): {'met' if mean >= 10 - 1e-9 else 'MISSED'}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="llama.cpp threads (1 is fastest on a busy machine)")
    parser.add_argument("--holdout", type=float, default=0.3, help="the dev split think calibrate held out")
    parser.add_argument("--split-seed", type=int, default=0, help="the --seed think calibrate split with")
    parser.add_argument("--heldout-count", type=int, default=120)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--model", default=None)
    parser.add_argument("--cache", default=None, help="keep decoded samples in this file across runs")
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args()

    _, dev_held = calibrate.split(bench.load_items("dev"), args.holdout, args.split_seed)
    sets = {"dev held-out": dev_held[:args.limit], "second set": heldout_items(args.heldout_count)[:args.limit]}
    settings = config.load()
    settings["threads"] = args.threads
    backend = BatchReplay(load_backend(Request("", model=args.model, settings=settings)), args.cache)
    started = time.monotonic()
    try:
        results = {name: run_set(name, items, backend, args.seed, args.max_tokens) for name, items in sets.items()}
    finally:
        backend.save()
        backend.close()
    print(f"{backend.model}; seed {args.seed}, max_tokens {args.max_tokens}; {time.monotonic() - started:.0f} s; "
          f"{backend.drawn} samples decoded, {backend.replayed} replayed")
    for name, rows in results.items():
        print(f"\n{name} ({len(sets[name])} questions)")
        print("  preset          accuracy   tokens/q  samples/q  plan")
        for preset, r in rows.items():
            p = r["plan"]
            plan = f"{p['strategy']} n={p['samples']} {p['prompt_style']} t={p['temperature']:g} {p.get('select') or ''}"
            print(f"  {preset:<15} {100 * r['accuracy']:6.1f}%  {r['tokens_per_question']:8.1f}  "
                  f"{r['samples_per_question']:9.2f}  {plan}")
            print("      by kind: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in r["by_kind"].items()))
    print("\ntargets:")
    print("\n".join(targets(results)))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"model": backend.model, "seed": args.seed, "max_tokens": args.max_tokens, "sets": results}, f,
                      indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
