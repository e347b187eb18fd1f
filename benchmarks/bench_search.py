"""Accuracy and compute of the verifier-driven and search strategies on the shipped arithmetic set.

Runs cot and best-of-n (inverse perplexity, and the model as its own judge), refine,
beam, mcts and budget forcing on the same questions with the same seeds through
``engine.run`` on one loaded model (the embedded SmolLM2-135M by default), and
prints accuracy, completion tokens per question (answers, judges, critiques: all
of it), samples per question and wall time, each also as a ratio to cot measured
in this one run. No targets are asserted: it is a measurement.

Usage: python benchmarks/bench_search.py [--limit K] [--max-tokens 64] [--seed 0]
       [--only cot,beam] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from thinkcli import bench, config
from thinkcli.answers import vote_key
from thinkcli.engine import Request, load_backend
from thinkcli.events import NullSink

# label -> Request fields
CELLS: dict[str, dict] = {
    "cot": {"strategy": "cot", "samples": 1},
    "best-of-4 certainty": {"strategy": "best-of-n", "samples": 4},
    "best-of-4 self-judge": {"strategy": "best-of-n", "samples": 4, "judge": True},
    "refine r=1": {"strategy": "refine", "plan_overrides": {"rounds": 1}},
    "beam B=2 E=2": {"strategy": "beam", "plan_overrides": {"beam_width": 2, "expansions": 2}},
    "mcts n=4": {"strategy": "mcts", "samples": 4},
    "budget 32..96": {"strategy": "budget", "plan_overrides": {"think_min": 32, "think_max": 96}},
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="arith")
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default=None, help="comma-separated cell labels or strategies")
    parser.add_argument("--model", default=None)
    parser.add_argument("--json", dest="json_out", default=None)
    args = parser.parse_args()

    items = bench.load_items(args.data)[: args.limit]
    settings = config.load()
    backend = load_backend(Request("", model=args.model or settings["model"], settings=settings))
    cells = {k: v for k, v in CELLS.items()
             if not args.only or k in args.only.split(",") or v["strategy"] in args.only.split(",")}
    rows = []
    try:
        for label, fields in cells.items():
            correct = tokens = drawn = 0
            started = time.monotonic()
            for q, item in enumerate(items):
                fields = dict(fields)
                overrides = dict(fields.pop("plan_overrides", {}))
                request = Request(item.question, model=backend.model, max_tokens=args.max_tokens,
                                  seed=args.seed + 1000 * q, plan_overrides=overrides, settings=settings, **fields)
                result = _run(request, backend)
                correct += vote_key(result.answer) == vote_key(item.answer)
                tokens += result.usage.completion_tokens
                drawn += result.samples_drawn
            rows.append({"cell": label, "accuracy": correct / len(items), "correct": correct,
                         "tokens_per_question": tokens / len(items), "samples_per_question": drawn / len(items),
                         "wall_s_per_question": (time.monotonic() - started) / len(items)})
            print(_line(rows[-1], rows[0]), file=sys.stderr, flush=True)
    finally:
        backend.close()
    print(f"{len(items)} questions from {args.data}, model {backend.model}, max_tokens {args.max_tokens}, seed {args.seed}")
    print(f"{'cell':<22} {'acc':>5} {'tok/q':>7} {'samp/q':>6} {'s/q':>6}   vs first row: tokens, time")
    for row in rows:
        print(_line(row, rows[0]))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"questions": len(items), "max_tokens": args.max_tokens, "rows": rows}, f, indent=2)
    return 0


def _run(request: Request, backend):
    from thinkcli import engine

    return engine.run(request, NullSink(), backend=backend)


def _line(row: dict, base: dict) -> str:
    tok = row["tokens_per_question"] / base["tokens_per_question"] if base["tokens_per_question"] else 0
    wall = row["wall_s_per_question"] / base["wall_s_per_question"] if base["wall_s_per_question"] else 0
    return (f"{row['cell']:<22} {row['accuracy']:>5.0%} {row['tokens_per_question']:>7.1f} "
            f"{row['samples_per_question']:>6.2f} {row['wall_s_per_question']:>6.2f}   x{tok:.1f}, x{wall:.1f}")


if __name__ == "__main__":
    raise SystemExit(main())
