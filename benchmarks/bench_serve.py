"""`think serve` against its three targets, every ratio taken in this one run.

    python benchmarks/bench_serve.py --parts overhead,concurrent [--repeats 7] [--concurrent 16]
    flock /tmp/thinkcli-model.lock python benchmarks/bench_serve.py [--threads N]   # embedded loads the GGUF

1. overhead   think-low through the server versus the same streaming request sent straight
              to the upstream (the fault server's slow mode: 1 s before the first token, then
              10 ms a token). Target: time to first token and total time each within 5% + 20 ms.
2. concurrent 16 think-medium requests at once against a concurrent upstream (1 s a request).
              Target: wall time at most 1.5x one think-medium request's.
3. embedded   the embedded model behind the server: 4 concurrent think-low requests versus the
              same 4 one after another. Target: aggregate throughput at least the sequential one's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faultserver import FaultServer  # noqa: E402
from tests.serveproc import ServeProcess  # noqa: E402

MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]
PROMPTS = ["What is 17 * 23?", "Name a prime number above 50.", "What is the capital of France?",
           "Spell 'cat' backwards."]


def stream(url: str, body: dict, headers: dict | None = None) -> tuple[float, float, int]:
    """(time to first content token, total time, content pieces) of one streaming request."""
    start = time.perf_counter()
    first = None
    pieces = 0
    with CLIENT.stream("POST", url + "/chat/completions", json={**body, "stream": True},
                       headers=headers or {}) as resp:
        resp.raise_for_status()
        for line in resp.iter_lines():
            if not line.startswith("data: {"):
                continue
            for choice in json.loads(line[6:]).get("choices") or []:
                if (choice.get("delta") or {}).get("content"):
                    first = first or time.perf_counter() - start
                    pieces += 1
    return first or float("nan"), time.perf_counter() - start, pieces


# One pooled client for every request: making a client per request costs more CPU than the server does.
CLIENT = httpx.Client(timeout=600, limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))


def post(url: str, body: dict) -> dict:
    resp = CLIENT.post(url + "/chat/completions", json=body)
    resp.raise_for_status()
    return resp.json()


def concurrently(fn, count: int) -> float:
    threads = [threading.Thread(target=fn, args=(i,)) for i in range(count)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def env() -> dict:
    home = tempfile.mkdtemp(prefix="bench-serve-")
    return {"THINK_CONFIG_DIR": home, "THINK_NO_HISTORY": "1", "OPENAI_API_KEY": ""}


def overhead(repeats: int) -> None:
    with FaultServer(delay=1.0, token_delay=0.01) as fs, \
            ServeProcess("-m", "openai:bench", "--base-url", fs.url, env=env()) as sp:
        body = {"model": "think-low", "messages": MESSAGES, "max_tokens": 64}
        stream(sp.url, body)  # warm both paths (connections, first-request imports)
        stream(fs.url, {**body, "model": "bench"})
        direct, served = [], []
        for _ in range(repeats):  # interleaved, so drift on the shared machine hits both alike
            direct.append(stream(fs.url, {**body, "model": "bench"}))
            served.append(stream(sp.url, body))
    for k, what in ((0, "time to first token"), (1, "total time")):
        d = statistics.median(x[k] for x in direct)
        s = statistics.median(x[k] for x in served)
        limit = d * 1.05 + 0.020
        print(f"overhead   {what:<20} direct {d * 1000:7.1f} ms  served {s * 1000:7.1f} ms  "
              f"(+{(s - d) * 1000:5.1f} ms, {s / d:.3f}x; limit {limit * 1000:.1f} ms)  "
              f"{'PASS' if s <= limit else 'FAIL'}")
    print(f"           {served[0][2]} content chunks streamed per reply (direct: {direct[0][2]})")


def concurrent(count: int) -> None:
    with FaultServer(delay=1.0) as fs, \
            ServeProcess("-m", "openai:bench", "--base-url", fs.url, "--max-concurrency", str(count), env=env()) as sp:
        body = {"model": "think-medium", "messages": MESSAGES, "max_tokens": 32}
        post(sp.url, body)  # warm up; learns that the upstream honours n
        one = statistics.median(concurrently(lambda i: post(sp.url, body), 1) for _ in range(3))
        samples = post(sp.url, body)["think"]["samples"]
        fs.peak_in_flight = 0 if hasattr(fs, "peak_in_flight") else None
        wall = concurrently(lambda i: post(sp.url, body), count)
        peak = getattr(fs, "peak_in_flight", None)
    ratio = wall / one
    print(f"concurrent {count} think-medium at once: {wall:.2f} s; one alone {one:.2f} s ({samples} samples); "
          f"{ratio:.2f}x (limit 1.5x){f'; upstream peak in flight {peak}' if peak else ''}  "
          f"{'PASS' if ratio <= 1.5 else 'FAIL'}")


def embedded(max_tokens: int, threads: int | None, rounds: int) -> None:
    flags = ["--threads", str(threads)] if threads else []
    with ServeProcess(*flags, env=env(), ready_timeout=300) as sp:
        def ask(i: int, out: list) -> None:
            body = {"model": "think-low", "messages": [{"role": "user", "content": PROMPTS[i]}],
                    "max_tokens": max_tokens, "seed": i, "temperature": 0}
            out.append(post(sp.url, body)["usage"]["completion_tokens"])

        ask(0, [])  # warm up
        seq_rates, par_rates = [], []
        for _ in range(rounds):  # alternated, so drift on the shared machine hits both alike
            seq: list = []
            start = time.perf_counter()
            for i in range(len(PROMPTS)):
                ask(i, seq)
            seq_rates.append(sum(seq) / (time.perf_counter() - start))
            par: list = []
            wall = concurrently(lambda i, par=par: ask(i, par), len(PROMPTS))
            par_rates.append(sum(par) / wall)
    seq_tps, par_tps = statistics.median(seq_rates), statistics.median(par_rates)
    print(f"embedded   {len(PROMPTS)} think-low requests ({max_tokens} tokens max), median of {rounds} alternated rounds: "
          f"sequential {seq_tps:.1f} tok/s, concurrent {par_tps:.1f} tok/s; {par_tps / seq_tps:.2f}x  "
          f"{'PASS' if par_tps >= seq_tps else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--concurrent", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=48, help="per request, for the embedded part")
    parser.add_argument("--rounds", type=int, default=3, help="alternated sequential/concurrent rounds (embedded)")
    parser.add_argument("--threads", type=int, help="llama.cpp threads of the embedded-model server")
    parser.add_argument("--parts", default="overhead,concurrent,embedded",
                        help="comma-separated parts to run; embedded needs the model lock")
    args = parser.parse_args()
    os.environ.pop("OPENAI_BASE_URL", None)
    parts = args.parts.split(",")
    if "overhead" in parts:
        overhead(args.repeats)
    if "concurrent" in parts:
        concurrent(args.concurrent)
    if "embedded" in parts:
        embedded(args.max_tokens, args.threads, args.rounds)


if __name__ == "__main__":
    main()
