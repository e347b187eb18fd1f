"""How well the remote backend overlaps requests: 8 samples versus 1, as a wall-time ratio.

The fault server (tests/faultserver.py) answers every request after a fixed
delay and serves requests concurrently, so the ratio measures the client alone.
Target: 8 samples take at most 1.5x the wall time of 1 sample.

    python benchmarks/bench_remote.py [--delay 1.0] [--repeats 3]

Three measurements, all in this one run:
  backend  OpenAIBackend.generate(n) in-process, server ignoring n (concurrent requests)
  n        the same with a server that honours n (one request)
  cli      the real `think` CLI (best-of-n), cold (n probe) and warm (learned), process start-up included
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faultserver import FaultServer  # noqa: E402
from thinkcli.backends.base import GenParams  # noqa: E402
from thinkcli.backends.openai import OpenAIBackend  # noqa: E402

MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def backend_times(url: str, n: int, repeats: int, parallel: int | None) -> list[float]:
    b = OpenAIBackend("bench", url, parallel=parallel)  # None: the default, chosen from the server
    try:
        list(b.generate(MESSAGES, GenParams(max_tokens=16), 2))  # learn whether n is honoured
        return [timed(lambda: list(b.generate(MESSAGES, GenParams(max_tokens=16, seed=1), n))) for _ in range(repeats)]
    finally:
        b.close()


def cli_time(url: str, samples: int, env: dict) -> float:
    cmd = [sys.executable, "-m", "thinkcli", "What is 2 + 2?", "-m", "openai:bench", "--base-url", url,
           "--max-tokens", "16", "--strategy", "best-of-n", "--samples", str(samples), "-q"]  # default --parallel
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, stdin=subprocess.DEVNULL)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"think failed: {proc.stderr.decode()}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--delay", type=float, default=1.0, help="seconds the server waits before each answer")
    ap.add_argument("--repeats", type=int, default=3)
    opts = ap.parse_args()
    print(f"fault server slow mode: {opts.delay:g} s per request; median of {opts.repeats}")
    rows = []
    with FaultServer(delay=opts.delay, honour_n=False) as srv:
        one = statistics.median(backend_times(srv.url, 1, opts.repeats, parallel=None))
        eight = statistics.median(backend_times(srv.url, 8, opts.repeats, parallel=None))
        rows.append(("backend, server ignores n, default --parallel", one, eight))
        four = statistics.median(backend_times(srv.url, 8, opts.repeats, parallel=4))
        rows.append(("backend, server ignores n, --parallel 4", one, four))
        with tempfile.TemporaryDirectory() as cfg:
            env = {**os.environ, "THINK_CONFIG_DIR": cfg, "THINK_NO_HISTORY": "1", "PYTHONPATH": str(ROOT)}
            cold8 = cli_time(srv.url, 8, env)  # first contact: one n request, then the rest concurrently
            cli1 = statistics.median(cli_time(srv.url, 1, env) for _ in range(opts.repeats))
            cli8 = statistics.median(cli_time(srv.url, 8, env) for _ in range(opts.repeats))
        rows.append(("think CLI, warm (n support remembered), default", cli1, cli8))
        rows.append(("think CLI, cold (probes n first), default", cli1, cold8))
    with FaultServer(delay=opts.delay, honour_n=True) as srv:
        one = statistics.median(backend_times(srv.url, 1, opts.repeats, parallel=None))
        eight = statistics.median(backend_times(srv.url, 8, opts.repeats, parallel=None))
        rows.append(("backend, server honours n (one request)", one, eight))
    print(f"{'path':<50} {'1 sample':>9} {'8 samples':>10} {'ratio':>6}")
    for name, a, b in rows:
        print(f"{name:<50} {a:>8.2f}s {b:>9.2f}s {b / a:>6.2f}")
    for name, a, b in (rows[0], rows[2]):
        print(f"target 8/1 <= 1.5 without flags, {name}: {'met' if b / a <= 1.5 else 'MISSED'} ({b / a:.2f})")


if __name__ == "__main__":
    main()
