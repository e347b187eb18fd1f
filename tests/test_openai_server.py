"""End to end against a real OpenAI-compatible server: llama-cpp-python's own, on 127.0.0.1.

The server runs the embedded SmolLM2-135M. It streams, reports no usage in a
stream (so tokens are estimated) and ignores ``n`` (so ``--samples`` goes the
concurrent way). It is started once for this module and always stopped.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time

import httpx
import pytest

from tests.conftest import LLAMA_SERVER
from thinkcli.backends.base import GenParams
from thinkcli.backends.openai import OpenAIBackend
from thinkcli.events import Generation, Token

pytestmark = pytest.mark.server

READY_TIMEOUT = 120.0  # seconds to load the model on a busy 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(embedded_model, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [*LLAMA_SERVER, "--model", str(embedded_model), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", "2048", "--n_threads", "1",
           "--interrupt_requests", "False"]  # by default a new request cuts the stream in flight
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not ready after {READY_TIMEOUT:g} s: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@pytest.fixture(autouse=True)
def no_host_keys(monkeypatch, tmp_path):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THINK_HISTORY_DB", str(tmp_path / "history.db"))


def args(url: str, *more: str) -> tuple[str, ...]:
    return ("What is 2 + 2?", "-m", "openai:smollm", "--base-url", url, "--max-tokens", "12", "--seed", "3", *more)


def test_streams_tokens_as_they_are_made(llama_server):
    b = OpenAIBackend("smollm", llama_server)
    try:
        events = list(b.generate([{"role": "user", "content": "Count: 1, 2, 3,"}], GenParams(max_tokens=8, seed=1)))
    finally:
        b.close()
    tokens = [e for e in events if isinstance(e, Token)]
    [gen] = [e for e in events if isinstance(e, Generation)]
    assert len(tokens) >= 2  # streamed piece by piece, not one blob
    assert "".join(t.text for t in tokens if t.kind == "answer") == gen.text and gen.text.strip()
    assert gen.finish_reason in ("stop", "length") and 0 < gen.usage.completion_tokens


def test_think_answers_through_the_server(think, llama_server):
    proc = think(*args(llama_server))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().strip()
    err = proc.stderr.decode()
    [summary] = err.strip().splitlines()
    assert "1 sample" in summary and "cost n/a" in summary and "tokens ~" in summary
    assert "Traceback" not in err


def test_json_usage_is_estimated_because_the_server_reports_none(think, llama_server):
    proc = think(*args(llama_server, "--json"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    usage = doc["usage"]
    assert usage["estimated"] is True and usage["prompt_tokens"] > 0
    assert usage["completion_tokens"] == doc["samples"][0]["completion_tokens"] > 0
    assert doc["model"] == "openai:smollm" and doc["cost_usd"] is None


def test_four_samples_take_the_concurrent_path(think, llama_server):
    proc = think(*args(llama_server, "--strategy", "best-of-n", "--samples", "4", "--parallel", "4", "--json"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert len(doc["samples"]) == 4
    assert all(s["finish_reason"] in ("stop", "length") for s in doc["samples"]), doc["samples"]
    assert "Retrying" not in proc.stderr.decode()
    # per-sample seeds: the server samples differently for each request
    assert len({s["text"] for s in doc["samples"]}) > 1


def test_an_unknown_route_is_a_clear_404(think, llama_server):
    proc = think(*args(llama_server.removesuffix("/v1") + "/nope/v1"))
    assert proc.returncode == 1
    err = proc.stderr.decode()
    assert "404 Not Found" in err and "--base-url" in err and "Traceback" not in err


def test_budget_forcing_needs_a_template_endpoint_this_server_lacks(think, llama_server):
    proc = think(*args(llama_server, "--strategy", "budget"))
    assert proc.returncode == 1
    assert "raw text continuation" in proc.stderr.decode() and b"Traceback" not in proc.stderr


def test_live_view_shows_the_cost_so_far(llama_server, tmp_path):
    # Priced through the user's price table, the status line carries the running cost
    # after each finished sample, and the summary the final one.
    from tests.conftest import ANSI, run_in_pty

    (tmp_path / "prices.toml").write_text('[models."smollm"]\ninput = 1000.0\noutput = 2000.0\n')
    env = {**os.environ, "THINK_CONFIG_DIR": str(tmp_path), "TERM": "xterm-256color",
           "THINK_HISTORY_DB": str(tmp_path / "history.db")}
    env.pop("NO_COLOR", None)
    status, screen, out = run_in_pty(
        ["What is 2 + 2?", "-m", "openai:smollm", "--base-url", llama_server, "--max-tokens", "24", "--seed", "3",
         "--strategy", "best-of-n", "-n", "4", "--parallel", "1"], env, rows=30, cols=120)
    assert status == 0, screen
    text = ANSI.sub("", screen)
    assert " so far" in text, text[-3000:]
    assert "cost n/a" not in text
    summary = text.strip().splitlines()[-1]
    assert "4 samples" in summary and "$" in summary and "so far" not in summary
