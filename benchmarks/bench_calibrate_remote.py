"""`think calibrate` against a remote server: questions drawn side by side versus one at a time.

The fault server (tests/faultserver.py) answers every request after a fixed delay, as a busy
serving engine would, and serves requests concurrently, so the ratio measures the client's
overlap alone. The same draw (questions x samples x styles) is timed at --concurrency 1 and
at K, in this one run, through the real CLI; the draws are checked equal.

    python benchmarks/bench_calibrate_remote.py [--questions 40] [--delay 0.2] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faultserver import FaultServer  # noqa: E402
from thinkcli import draws  # noqa: E402


def run(server: FaultServer, data: Path, draw: Path, concurrency: int, env: dict) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "thinkcli", "calibrate", str(data), "-m", "openai:bench-model",
                           "--samples", "4", "--styles", "direct,program", "--max-tokens", "16", "--draw", str(draw),
                           "--no-save", "--json", "--concurrency", str(concurrency)],
                          capture_output=True, env=env, cwd=ROOT, timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr.decode())
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the server takes per request")
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FaultServer(delay=args.delay) as server:
        tmp = Path(tmp)
        data = tmp / "q.jsonl"
        data.write_text("".join(json.dumps({"question": f"What is {k} + 1?", "answer": str(k + 1)}) + "\n"
                                for k in range(args.questions)))
        env = {**os.environ, "THINK_BASE_URL": server.url, "THINK_CONFIG_DIR": str(tmp / "config"),
               "THINK_PROFILES_DIR": str(tmp / "profiles")}
        one = run(server, data, tmp / "one.json", 1, env)
        many = run(server, data, tmp / "many.json", args.concurrency, env)
        a, b = draws.load(tmp / "one.json"), draws.load(tmp / "many.json")
        same = [(q.samples, q.greedy) for q in a.questions] == [(q.samples, q.greedy) for q in b.questions]
    pairs = args.questions * 2
    print(f"{args.questions} questions x 2 styles x (4 samples + greedy), server delay {args.delay} s per request")
    print(f"  --concurrency 1:  {one:6.1f} s  ({pairs} pairs)")
    print(f"  --concurrency {args.concurrency}: {many:6.1f} s")
    print(f"  speed-up {one / many:.1f}x; same draw: {same}")


if __name__ == "__main__":
    main()
