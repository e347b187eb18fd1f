"""Batched N-sample generation on the embedded model: throughput, wall time, peak memory.

    python benchmarks/bench_batch.py [--tokens 128] [--repeats 3] [--ns 1,2,4,8,16] [--skip-cli] [--signals-only]

Every sample is forced to exactly --tokens completion tokens: the backend's
``ignore_eos`` switch (a benchmark-only class attribute) keeps decoding past the
end-of-text token, so all N produce the same amount of work. Three measurements:

  engine   in-process, one loaded backend, ``engine.run`` with best-of-n and N
           samples the way `think` runs it; aggregate completion tokens/s per N,
           configurations interleaved (order reversed every other repeat), medians.
  serial   the same backend: one call of n=8 versus eight sequential n=1 calls.
  cli      the real `think` CLI in a fresh process per run (start-up and model load
           included): wall time and peak RSS (VmHWM) for each N, and eight separate
           one-sample `think` runs for comparison.

  signals  the cost of the confidence signals (issue 12): the backend directly, N samples
           with ``logprobs`` on (chosen log-prob, self-certainty over the whole vocabulary,
           DeepConf top-20 confidence, all from the full logits) versus off; tokens/s ratio.

Targets (issue 6): throughput at N=8 >= 1.35x N=1; n=8 wall <= 0.65x eight
sequential one-sample generations; peak RSS at N=16 <= 2x N=1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from thinkcli.backends.base import GenParams  # noqa: E402
from thinkcli.backends.llama import LlamaBackend  # noqa: E402
from thinkcli.backends.models import embedded_model_path  # noqa: E402
from thinkcli.engine import Request, run  # noqa: E402
from thinkcli.events import Generation, NullSink  # noqa: E402

PROMPT = "Write a long story about a lighthouse keeper and a storm."
MESSAGES = [{"role": "user", "content": PROMPT}]

# Runs the real CLI with samples forced to full length, and reports the peak RSS on exit.
CLI_WRAPPER = """
import atexit, sys
def _hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM'):
            sys.stderr.write('BENCH-HWM ' + line.split()[1] + '\\n')
atexit.register(_hwm)
from thinkcli.backends.llama import LlamaBackend
LlamaBackend.ignore_eos = True
from thinkcli.cli import main
sys.argv = ['think', *sys.argv[1:]]
main()
"""


def engine_round(backend: LlamaBackend, n: int, tokens: int, seed: int) -> tuple[float, int]:
    req = Request(PROMPT, strategy="best-of-n", samples=n, max_tokens=tokens, seed=seed)
    start = time.perf_counter()
    result = run(req, NullSink(), backend=backend)
    took = time.perf_counter() - start
    return took, result.usage.completion_tokens


def serial_round(backend: LlamaBackend, tokens: int, seed: int) -> tuple[float, float]:
    params = GenParams(max_tokens=tokens, seed=seed)
    start = time.perf_counter()
    batched = [e for e in backend.generate(MESSAGES, params, 8) if isinstance(e, Generation)]
    t_batch = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(8):
        [e for e in backend.generate(MESSAGES, params.with_(seed=seed + i), 1) if isinstance(e, Generation)]
    t_serial = time.perf_counter() - start
    assert sum(g.usage.completion_tokens for g in batched) == 8 * tokens
    return t_batch, t_serial


def signals_round(backend: LlamaBackend, n: int, tokens: int, seed: int, on: bool) -> float:
    params = GenParams(max_tokens=tokens, seed=seed, logprobs=on)
    start = time.perf_counter()
    out = [e for e in backend.generate(MESSAGES, params, n) if isinstance(e, Generation)]
    took = time.perf_counter() - start
    assert sum(g.usage.completion_tokens for g in out) == n * tokens
    assert all(bool(g.signals) == on for g in out)
    return took


def signals_cost(backend: LlamaBackend, ns: list[int], tokens: int, repeats: int) -> None:
    """Tokens/s with the signals computed versus without, interleaved, medians."""
    times: dict[tuple[int, bool], list[float]] = {(n, on): [] for n in ns for on in (True, False)}
    for rep in range(repeats):
        for n in ns:
            for on in (True, False) if rep % 2 == 0 else (False, True):
                times[(n, on)].append(signals_round(backend, n, tokens, 100 * rep, on))
    print("\nsignals (backend.generate, forced length), medians:")
    print(f"{'N':>3} {'tok/s on':>9} {'tok/s off':>9} {'on/off':>7}")
    for n in ns:
        on = n * tokens / statistics.median(times[(n, True)])
        off = n * tokens / statistics.median(times[(n, False)])
        print(f"{n:>3} {on:9.1f} {off:9.1f} {on / off:6.2f}x")


def cli_run(n: int, tokens: int, env: dict) -> tuple[float, int, int]:
    cmd = [sys.executable, "-c", CLI_WRAPPER, PROMPT, "--strategy", "best-of-n", "--samples", str(n),
           "--max-tokens", str(tokens), "--seed", "1", "--json"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, stdin=subprocess.DEVNULL, cwd=ROOT)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"think failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    hwm = next(int(ln.split()[1]) for ln in proc.stderr.decode().splitlines() if ln.startswith("BENCH-HWM"))
    completion = json.loads(proc.stdout)["usage"]["completion_tokens"]
    return took, hwm, completion


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ns", default="1,2,4,8,16")
    ap.add_argument("--skip-cli", action="store_true")
    ap.add_argument("--signals-only", action="store_true", help="only the signals cost")
    args = ap.parse_args()
    ns = [int(x) for x in args.ns.split(",")]

    LlamaBackend.ignore_eos = True
    backend = LlamaBackend(embedded_model_path())
    print(f"threads={backend.threads} tokens/sample={args.tokens} repeats={args.repeats} cpus={os.cpu_count()}")
    engine_round(backend, max(ns), 4, 0)  # warm-up: page the model in, size the KV cache
    if args.signals_only:
        signals_cost(backend, ns, args.tokens, args.repeats)
        backend.close()
        return
    times: dict[int, list[float]] = {n: [] for n in ns}
    serial: list[tuple[float, float]] = []
    for rep in range(args.repeats):
        for n in ns if rep % 2 == 0 else list(reversed(ns)):
            took, completion = engine_round(backend, n, args.tokens, seed=100 * rep)
            assert completion == n * args.tokens, (n, completion)
            times[n].append(took)
        serial.append(serial_round(backend, args.tokens, seed=100 * rep))

    base = args.tokens / statistics.median(times[ns[0]])
    print("\nengine (in-process, best-of-n, forced length), medians:")
    print(f"{'N':>3} {'wall s':>8} {'tok/s':>8} {'vs N=1':>7}   runs tok/s")
    for n in ns:
        med = statistics.median(times[n])
        rate = n * args.tokens / med
        runs = " ".join(f"{n * args.tokens / t:.0f}" for t in times[n])
        print(f"{n:>3} {med:8.2f} {rate:8.1f} {rate / base:6.2f}x   {runs}")
    ratios = [b / s for b, s in serial]
    print(f"\nserial: one n=8 call vs eight n=1 calls: wall ratio median {statistics.median(ratios):.2f} "
          f"({' '.join(f'{r:.2f}' for r in ratios)}); "
          f"median {statistics.median(b for b, _ in serial):.2f} s vs {statistics.median(s for _, s in serial):.2f} s")
    signals_cost(backend, ns, args.tokens, args.repeats)
    backend.close()

    if args.skip_cli:
        return
    with tempfile.TemporaryDirectory() as cfg:
        env = {**os.environ, "THINK_CONFIG_DIR": cfg, "THINK_MODELS_DIR": cfg, "NO_COLOR": "1"}
        env.pop("PRE_COMMIT", None)
        cli: dict[int, list[tuple[float, int]]] = {n: [] for n in ns}
        singles: list[float] = []
        for rep in range(args.repeats):
            for n in ns if rep % 2 == 0 else list(reversed(ns)):
                took, hwm, completion = cli_run(n, args.tokens, env)
                assert completion == n * args.tokens, (n, completion)
                cli[n].append((took, hwm))
            singles.append(sum(cli_run(1, args.tokens, env)[0] for _ in range(8)))
    hwm1 = statistics.median(h for _, h in cli[ns[0]])
    print("\ncli (`think --strategy best-of-n -n N --max-tokens T --json`, fresh process each), medians:")
    print(f"{'N':>3} {'wall s':>8} {'tok/s':>8} {'peak MB':>8} {'vs N=1':>7}")
    for n in ns:
        wall = statistics.median(t for t, _ in cli[n])
        hwm = statistics.median(h for _, h in cli[n])
        print(f"{n:>3} {wall:8.2f} {n * args.tokens / wall:8.1f} {hwm / 1024:8.0f} {hwm / hwm1:6.2f}x")
    if 8 in cli:
        eight = statistics.median(t for t, _ in cli[8])
        print(f"\ncli: `think -n 8` {eight:.2f} s vs eight separate `think -n 1` runs {statistics.median(singles):.2f} s "
              f"(ratio {eight / statistics.median(singles):.2f})")


if __name__ == "__main__":
    main()
