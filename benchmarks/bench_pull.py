#!/usr/bin/env python3
"""`think models pull` against the loopback Hub (tests/hubserver.py) serving the embedded GGUF.

    python benchmarks/bench_pull.py [--runs 7]

1. A cold pull (98 MB): wall time and bytes served.
2. Resume after a cut: the connection drops halfway and the Hub stays away, so
   the run fails; the next run continues with a Range request. Bytes served
   beyond the file's size are what the cut cost (target: <= one 10 MiB chunk).
   Also the cut that huggingface_hub's http_get retries inside the same run.
3. Pulling an already-cached model: median wall time of the whole
   `think models pull` process (target: < 0.5 s), next to `think --version` in
   the same run, and of the pull call in a warm process.
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

from tests.hubserver import HubServer, standard_repos  # noqa: E402
from thinkcli.backends.models import embedded_model_path  # noqa: E402

PY = sys.executable
REF = "hf.co/test/smol-GGUF"
CHUNK = 10 * 1024 * 1024


def think(*args: str, env: dict) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run([PY, "-m", "thinkcli", *args], capture_output=True, env=env, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start, proc


def fresh_env(server: HubServer) -> dict:
    home = tempfile.mkdtemp(prefix="bench-pull-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "THINK_"))}
    return {**env, "HF_HOME": home, "HF_ENDPOINT": server.url, "THINK_CONFIG_DIR": home + "/config",
            "THINK_MODELS_DIR": home + "/models", "NO_COLOR": "1"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=7)
    opts = ap.parse_args()
    gguf = embedded_model_path()
    size = gguf.stat().st_size
    server = HubServer(standard_repos(gguf))
    key = server.key_of("test/smol-GGUF", "smol-Q4_1.gguf")
    report: dict = {"file_bytes": size, "chunk_bytes": CHUNK}
    try:
        env = fresh_env(server)
        cold, proc = think("models", "pull", REF, env=env)
        assert proc.returncode == 0, proc.stderr
        report["cold_pull_s"] = round(cold, 3)
        report["cold_pull_served_bytes"] = server.served[key]

        env = fresh_env(server)
        server.served.clear()
        server.cut[key], server.down_after_cut = size // 2, True
        _, cut = think("models", "pull", REF, env=env)
        server.down = server.down_after_cut = False
        kept = next(Path(env["HF_HOME"]).rglob("*.incomplete")).stat().st_size
        _, resumed = think("models", "pull", REF, env=env)
        assert cut.returncode == 1 and resumed.returncode == 0, (cut.stderr, resumed.stderr)
        report["cut_run_kept_bytes"] = kept
        report["resume_refetched_bytes"] = server.served[key] - size

        env = fresh_env(server)
        server.served.clear()
        server.cut[key] = size // 2  # the Hub answers again at once: http_get resumes in the same run
        _, same_run = think("models", "pull", REF, env=env)
        assert same_run.returncode == 0, same_run.stderr
        report["same_run_resume_refetched_bytes"] = server.served[key] - size

        cached, version = [], []
        for _ in range(opts.runs):  # interleaved, so machine noise hits both alike
            t, proc = think("models", "pull", REF, env=env)
            assert proc.returncode == 0 and b"nothing fetched" in proc.stderr, proc.stderr
            cached.append(t)
            version.append(think("--version", env=env)[0])
        report["cached_pull_process_s"] = round(statistics.median(cached), 3)
        report["think_version_process_s"] = round(statistics.median(version), 3)
        report["cached_pull_added_s"] = round(statistics.median(cached) - statistics.median(version), 3)

        os.environ.update({k: env[k] for k in ("HF_HOME", "HF_ENDPOINT")})
        from thinkcli.hub_pull import pull

        pull(REF)  # warm: imports and the first connection
        warm = []
        for _ in range(opts.runs):
            start = time.perf_counter()
            assert pull(REF).fetched == 0
            warm.append(time.perf_counter() - start)
        report["cached_pull_call_s"] = round(statistics.median(warm), 4)
    finally:
        server.close()
    report["targets_met"] = {
        "resume_refetch_le_chunk": report["resume_refetched_bytes"] <= CHUNK,
        "cached_pull_lt_0.5s": report["cached_pull_process_s"] < 0.5,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
