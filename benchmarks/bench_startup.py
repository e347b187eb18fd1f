#!/usr/bin/env python3
"""Start-up and one-sample overhead of `think`, as ratios taken in one run.

    python benchmarks/bench_startup.py [--runs 15] [--gen-runs 5] [--tokens 128]

1. `think --help` / `think --version` median wall time, next to a bare
   `import typer, rich, httpx` (targets: <= 0.35 s; llama_cpp and httpx not imported).
2. One greedy sample of N tokens on the embedded model through `think`, against
   the same generation done directly with llama-cpp-python in a fresh process
   (target: ratio <= 1.15). Runs alternate so machine noise hits both alike.
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

PY = sys.executable
PROMPT = "Write a long, detailed story about a lighthouse keeper and a storm."

DIRECT = r"""
import sys, time
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from thinkcli.backends.models import embedded_model_path
from thinkcli import prompts
from thinkcli.backends.llama_batch import patch_llama_cpp
patch_llama_cpp()  # load the weights as thinkcli does (no AMX buffers on a CPU that has AMX)
llm = Llama(model_path=str(embedded_model_path()), n_ctx=2048, n_threads=2, n_threads_batch=2, verbose=False)
tmpl = llm.metadata["tokenizer.chat_template"]
fmt = Jinja2ChatFormatter(tmpl, eos_token="<|im_end|>", bos_token="")
prompt = fmt(messages=prompts.messages(sys.argv[1], "direct")).prompt
n = 0
for chunk in llm.create_completion(prompt, max_tokens=int(sys.argv[2]), temperature=0.0, stream=True):
    sys.stdout.write(chunk["choices"][0]["text"]); n += 1
sys.stderr.write(f"{n}\n")
"""


def timed(cmd: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=env, stdin=subprocess.DEVNULL)
    return time.perf_counter() - start, proc


def imports_of(args: list[str], env: dict) -> set[str]:
    code = (
        f"import sys, runpy; sys.argv = ['think', *{args!r}]\n"
        "try:\n    runpy.run_module('thinkcli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "print(','.join(sorted(m for m in ('llama_cpp', 'httpx') if m in sys.modules)), file=sys.stderr)"
    )
    proc = subprocess.run([PY, "-c", code], capture_output=True, text=True, env=env)
    last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
    return {m for m in last.split(",") if m}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--gen-runs", type=int, default=5)
    ap.add_argument("--tokens", type=int, default=128)
    opts = ap.parse_args()
    env = {**os.environ, "THINK_CONFIG_DIR": tempfile.mkdtemp(), "NO_COLOR": "1"}

    rows = {"help": [], "version": [], "import typer,rich,httpx": []}
    for _ in range(opts.runs):  # interleaved
        rows["help"].append(timed([PY, "-m", "thinkcli", "--help"], env)[0])
        rows["version"].append(timed([PY, "-m", "thinkcli", "--version"], env)[0])
        rows["import typer,rich,httpx"].append(timed([PY, "-c", "import typer, rich, httpx"], env)[0])
    report = {k: round(statistics.median(v), 3) for k, v in rows.items()}
    report["help imports"] = sorted(imports_of(["--help"], env))
    report["version imports"] = sorted(imports_of(["--version"], env))

    think_t, direct_t, think_tok, direct_tok = [], [], [], []
    think_cmd = [PY, "-m", "thinkcli", "--json", "--temperature", "0", "--max-tokens", str(opts.tokens),
                 "--prompt-style", "direct", PROMPT]
    direct_cmd = [PY, "-c", DIRECT, PROMPT, str(opts.tokens)]
    timed(think_cmd, env)  # warm the page cache once
    for _ in range(opts.gen_runs):
        t, p = timed(think_cmd, env)
        think_t.append(t)
        think_tok.append(json.loads(p.stdout)["usage"]["completion_tokens"])
        t, p = timed(direct_cmd, env)
        direct_t.append(t)
        direct_tok.append(int(p.stderr.decode().strip().splitlines()[-1]))
    report["one sample via think (s)"] = round(statistics.median(think_t), 3)
    report["one sample direct llama-cpp-python (s)"] = round(statistics.median(direct_t), 3)
    report["tokens think/direct"] = f"{statistics.median(think_tok)}/{statistics.median(direct_tok)}"
    report["overhead ratio"] = round(statistics.median(think_t) / statistics.median(direct_t), 3)
    width = max(map(len, report))
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
