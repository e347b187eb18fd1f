"""How close `think batch` and `think bench` come to the server's own speed, and where the client's time goes.

The fault server (tests/faultserver.py) runs as its own process, answers every request
after a fixed delay and serves requests concurrently, so the figures measure the client:

  slow      64 questions, --effort low --concurrency 16, 1 s a request: ideal 4 s. Target: <= 1.3x.
  bench     think bench on the same 64 questions (cot), --concurrency 16: the same target.
  overhead  400 questions, --concurrency 32, 50 ms a request: ideal 0.63 s. Target: <= 2x ideal + start-up.
  start-up  think batch of one question against a server that answers at once.

Each figure is the median of --repeats runs of the real CLI; "CPU" is the think
process's user + system time, "server" the fault server's CPU over the same run (it shares
the machine's cores), and the load average is printed beside them. --profile adds a cProfile of the overhead case run in-process,
every thread (main, workers, the HTTP event loop) merged.

Bytecode: the cases run the way this Python is set up. With PYTHONDONTWRITEBYTECODE set and
no __pycache__ in the checkout (as in the development environment), every run compiles
thinkcli's own modules again, which an installed copy does once. Start-up is printed both
ways: as set up, and with bytecode cached (PYTHONPYCACHEPREFIX in a temporary directory,
written by an unmeasured first run), as a user's Python runs it. --cached-bytecode runs
every case that way too.

    python benchmarks/bench_batch_cli.py [--repeats 3] [--profile] [--cached-bytecode]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_server(delay: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.faultserver", str(delay)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return proc, proc.stdout.readline().strip()


def questions(path: Path, count: int, answers: bool = False) -> Path:
    path.write_text("".join(json.dumps({"question": f"What is {k} + 1?", **({"answer": k + 1} if answers else {})})
                            + "\n" for k in range(count)))
    return path


def timed(cmd: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and the child's CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.decode()[-800:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def batch_cmd(url: str, src: Path, out: Path, concurrency: int) -> list[str]:
    return [sys.executable, "-m", "thinkcli", "batch", str(src), "-o", str(out), "--overwrite", "--effort", "low",
            "--concurrency", str(concurrency), "-m", "openai:fault-model", "--base-url", url, "--max-tokens", "16"]


def bench_cmd(url: str, data: Path, concurrency: int) -> list[str]:
    return [sys.executable, "-m", "thinkcli", "bench", str(data), "--strategy", "cot", "-n", "1",
            "--concurrency", str(concurrency), "-m", "openai:fault-model", "--base-url", url, "--max-tokens", "16"]


def server_cpu(server: subprocess.Popen) -> float:
    """The fault server's CPU seconds so far (Linux; 0 elsewhere): it shares the machine's cores."""
    try:
        fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median_run(cmd: list[str], env: dict, repeats: int, server: subprocess.Popen | None = None):
    """Median wall and client CPU of ``repeats`` runs, each run's wall, and the server's median CPU a run."""
    runs, served = [], []
    for _ in range(repeats):
        before = server_cpu(server) if server else 0.0
        runs.append(timed(cmd, env))
        served.append(server_cpu(server) - before if server else 0.0)
    walls = [w for w, _ in runs]
    return statistics.median(walls), statistics.median(c for _, c in runs), walls, statistics.median(served)


def profile_overhead(url: str, src: Path, out: Path, top: int = 25) -> None:
    """The overhead case in this process under cProfile, every thread's profile merged."""
    import cProfile
    import io
    import pstats
    import threading

    sys.path.insert(0, str(ROOT))
    from thinkcli.cli_batch import _batch
    from thinkcli.jobs import runner

    profiles: list[cProfile.Profile] = []
    local = threading.local()
    guarded = runner._guarded

    def profiled(work, task):  # each worker thread profiles itself
        if not hasattr(local, "prof"):
            local.prof = cProfile.Profile()
            profiles.append(local.prof)
            local.prof.enable()
        return guarded(work, task)

    runner._guarded = profiled
    main = cProfile.Profile()
    profiles.append(main)
    import thinkcli.backends.openai as openai_backend

    submit = openai_backend.OpenAIBackend._submit

    def submit_profiled(self, coro):  # the event-loop thread, profiled from its first task
        future = submit(self, coro)
        if not getattr(self, "_profiled", False):
            self._profiled = True
            loop_prof = cProfile.Profile()
            profiles.append(loop_prof)
            self._loop.call_soon_threadsafe(loop_prof.enable)
            self._loop_prof = loop_prof
        return future

    openai_backend.OpenAIBackend._submit = submit_profiled
    start = time.perf_counter()
    main.enable()
    _batch(str(src), str(out), False, {"effort": "low", "max_tokens": 16}, {"base_url": url}, model="openai:fault-model",
           concurrency=32, ordered=False, overwrite=True, max_cost=None, max_total_tokens=None, quiet=True)
    main.disable()
    wall = time.perf_counter() - start
    for prof in profiles:
        try:
            prof.disable()
        except Exception:  # a profiler enabled on another thread is stopped by that thread's exit
            pass
    stats = pstats.Stats(profiles[0])
    for prof in profiles[1:]:
        try:
            stats.add(prof)
        except TypeError:  # a profiler that never ran
            pass
    buf = io.StringIO()
    stats.stream = buf
    stats.sort_stats("tottime").print_stats(top)
    print(f"\nin-process profile of the overhead case ({wall:.2f} s wall, {len(profiles)} threads merged; "
          "wait time shows as tottime of lock/queue/select calls):")
    print(buf.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="also profile the overhead case in-process")
    ap.add_argument("--cached-bytecode", action="store_true",
                    help="run every case with bytecode cached, as an installed copy runs (default: as this Python is set up)")
    opts = ap.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "THINK_CONFIG_DIR": str(tmp / "config"),
               "THINK_NO_HISTORY": "1"}
        for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "NO_COLOR"):
            env.pop(name, None)
        as_set_up = dict(env)
        cached = {**env, "PYTHONPYCACHEPREFIX": str(tmp / "pycache")}
        cached.pop("PYTHONDONTWRITEBYTECODE", None)
        rows = []
        server, url = start_server(0.0)
        try:
            one = batch_cmd(url, questions(tmp / "one.jsonl", 1), tmp / "o.jsonl", 1)
            timed(one, cached)  # writes the cache; not counted
            startups = {name: median_run(one, e, opts.repeats)[:2] for name, e in
                        (("as set up", as_set_up), ("bytecode cached", cached))}
        finally:
            server.terminate()
        env = cached if opts.cached_bytecode else as_set_up
        startup = startups["bytecode cached" if opts.cached_bytecode else "as set up"][0]
        server, url = start_server(1.0)
        try:
            src = questions(tmp / "q64.jsonl", 64)
            wall, cpu, walls, served = median_run(batch_cmd(url, src, tmp / "a.jsonl", 16), env, opts.repeats, server)
            rows.append(("slow: batch 64 q, -c 16, 1 s/request", wall, cpu, 4.0, walls, served))
            data = questions(tmp / "d64.jsonl", 64, answers=True)
            wall, cpu, walls, served = median_run(bench_cmd(url, data, 16), env, opts.repeats, server)
            rows.append(("slow: bench 64 q, -c 16, 1 s/request", wall, cpu, 4.0, walls, served))
        finally:
            server.terminate()
        server, url = start_server(0.05)
        try:
            src = questions(tmp / "q400.jsonl", 400)
            wall, cpu, walls, served = median_run(batch_cmd(url, src, tmp / "b.jsonl", 32), env, opts.repeats, server)
            rows.append(("overhead: batch 400 q, -c 32, 50 ms/request", wall, cpu, 400 / 32 * 0.05, walls, served))
            if opts.profile:
                os.environ.update(THINK_CONFIG_DIR=str(tmp / "config"), THINK_NO_HISTORY="1")
                profile_overhead(url, src, tmp / "p.jsonl")
        finally:
            server.terminate()
    dont_write = "PYTHONDONTWRITEBYTECODE=" + os.environ.get("PYTHONDONTWRITEBYTECODE", "(unset)") + ", " + \
        ("a" if (ROOT / "thinkcli" / "__pycache__").is_dir() else "no") + " thinkcli/__pycache__"
    print(f"start-up (one question, server answering at once), median of {opts.repeats}: "
          + "; ".join(f"{name} {wall:.2f} s wall, {cpu:.2f} s CPU" for name, (wall, cpu) in startups.items())
          + f" ({dont_write}); load average {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"cases run {'with bytecode cached' if opts.cached_bytecode else 'as this Python is set up'}")
    print(f"{'case':<46} {'wall':>7} {'CPU':>6} {'server':>6} {'ideal':>6} {'wall/ideal':>10} "
          f"{'(wall-start-up)/ideal':>22}  runs")
    for name, wall, cpu, ideal, walls, served in rows:
        runs = " ".join(f"{w:.2f}" for w in walls)
        print(f"{name:<46} {wall:>6.2f}s {cpu:>5.2f}s {served:>5.2f}s {ideal:>5.2f}s {wall / ideal:>10.2f} "
              f"{(wall - startup) / ideal:>22.2f}  {runs}")
    slow = rows[0][1] / rows[0][3], rows[1][1] / rows[1][3]
    over = rows[2]
    print(f"target slow <= 1.3x of 4 s: batch {slow[0]:.2f}x, bench {slow[1]:.2f}x "
          f"({'met' if max(slow) <= 1.3 else 'MISSED'})")
    limit = 2 * over[3] + startup
    print(f"target overhead <= 2 x {over[3]:.2f} s + start-up {startup:.2f} s = {limit:.2f} s: {over[1]:.2f} s "
          f"({'met' if over[1] <= limit else 'MISSED'})")


if __name__ == "__main__":
    main()
