"""Every remote fault through the real CLI against the fault server on 127.0.0.1:
exit codes, one-line messages, no tracebacks, and keys that go nowhere they should not."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.faultserver import FaultServer

KEY = "sk-fault-test-9f8e7d6c5b4a3210"
ENV_KEY = "sk-env-key-0011223344556677"


@pytest.fixture(autouse=True)
def no_host_keys(monkeypatch, tmp_path):
    """The host's keys and history stay out of these runs."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LAB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THINK_HISTORY_DB", str(tmp_path / "history.db"))


@pytest.fixture
def server():
    srv = FaultServer().start()
    yield srv
    srv.stop()


def remote(srv: FaultServer, *args: str, model: str = "openai:fault-model") -> tuple[str, ...]:
    return ("What is 2 + 2?", "-m", model, "--base-url", srv.url, "--max-tokens", "16", *args)


def lines(proc) -> list[str]:
    return proc.stderr.decode().strip().splitlines()


def assert_one_line_error(proc, status: int, *needles: str) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == status, err
    assert "Traceback" not in err and proc.stdout == b""
    [line] = [ln for ln in err.splitlines() if ln.startswith("think: error:")]
    for needle in needles:
        assert needle in line, line
    return line


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the happy path ------------------------------------------------------------------


def test_answers_from_the_server(think, server):
    proc = think(*remote(server))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"4\n"
    [summary] = lines(proc)
    assert "1 sample" in summary and "cost n/a" in summary
    [req] = server.completion_requests()
    assert req["path"] == "/v1/chat/completions" and "Authorization" not in req["headers"]
    assert req["body"]["model"] == "fault-model" and req["body"]["stream"] is True


def test_think_base_url_from_the_environment(think, server):
    proc = think("What is 2 + 2?", "-m", "openai:fault-model", "--max-tokens", "8", env={"THINK_BASE_URL": server.url})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"4\n" and len(server.completion_requests()) == 1


def test_json_usage_and_cost_of_a_priced_model(think, server):
    server.usage = {"prompt_tokens": 1000, "completion_tokens": 2000,
                    "completion_tokens_details": {"reasoning_tokens": 500},
                    "prompt_tokens_details": {"cached_tokens": 400}}
    proc = think(*remote(server, "--json", model="openai:gpt-4o-mini"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["usage"] == {"prompt_tokens": 1000, "completion_tokens": 2000, "reasoning_tokens": 500,
                            "cached_tokens": 400, "total_tokens": 3000, "estimated": False}
    assert doc["cost_usd"] == pytest.approx((600 * 0.15 + 400 * 0.075 + 2000 * 0.60) / 1e6)
    assert "$0.0013" in lines(proc)[-1]


def test_usage_the_server_does_not_report_is_estimated(think, server):
    server.usage = False
    proc = think(*remote(server, "--json"))
    doc = json.loads(proc.stdout)
    assert doc["usage"]["estimated"] is True and doc["usage"]["completion_tokens"] > 0
    assert "tokens ~" in lines(proc)[-1]


def test_reasoning_never_reaches_the_answer(think, server):
    server.reasoning = "Let me add: 2 + 2 = 4, so the answer is 4."
    proc = think(*remote(server, "--json"))
    doc = json.loads(proc.stdout)
    assert doc["answer"] == "4"
    assert "Let me add" not in doc["samples"][0]["text"]


def test_max_cost_stops_before_a_request_could_overspend(think, server):
    server.honour_n = False
    server.reply = lambda body, i: f"Final answer: {4 + i % 2}"  # 4, 5: a tie keeps the vote going
    server.usage = {"prompt_tokens": 1000, "completion_tokens": 2000}
    proc = think(*remote(server, "--strategy", "vote", "--samples", "6", "--max-tokens", "100",
                         "--max-cost", "0.0005", "--json", model="openai:gpt-4o-mini"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["stopped_by"] == "cost" and len(doc["samples"]) == 2
    assert len(server.completion_requests()) == 2  # round two ($0.00135 spent + its maximum) was never sent
    assert doc["cost_usd"] == pytest.approx(2 * (1000 * 0.15 + 2000 * 0.60) / 1e6)


def test_max_cost_with_an_unknown_price_is_refused(think, server):
    proc = think(*remote(server, "--max-cost", "0.01"))
    assert_one_line_error(proc, 2, "no price is known for model openai:fault-model", "prices.toml")
    assert server.completion_requests() == []


def test_budget_forcing_continues_raw_text_through_completions(think, server):
    proc = think(*remote(server, "--strategy", "budget"))
    assert proc.returncode == 0, proc.stderr
    paths = {r["path"] for r in server.requests}
    assert "/apply-template" in paths and "/v1/completions" in paths


def test_budget_forcing_without_a_template_endpoint_is_a_clear_error(think, server):
    server.template = False
    proc = think(*remote(server, "--strategy", "budget"))
    assert_one_line_error(proc, 1, "raw text continuation")


# -- retries ---------------------------------------------------------------------------


def test_429_with_retry_after_is_retried_and_announced(think, server):
    server.faults = [{"status": 429, "retry_after": "1"}]
    proc = think(*remote(server))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"4\n"
    assert lines(proc)[0] == "Retrying in 1.0 s (429 Too Many Requests)"


def test_5xx_retries_run_out(think, server):
    server.faults = [{"status": 503}] * 5
    proc = think(*remote(server, "--max-retries", "1"))
    assert_one_line_error(proc, 1, "kept answering 503 Service Unavailable after 1 retries", "--max-retries")
    assert lines(proc)[0].startswith("Retrying in 0.") and lines(proc)[0].endswith("(503 Service Unavailable)")
    assert len(server.completion_requests()) == 2


@pytest.mark.parametrize("code,needle", [(400, "400 Bad Request: injected fault"), (401, "needs an API key"),
                                         (403, "403 Forbidden"), (404, "check -m and --base-url")])
def test_client_errors_fail_at_once(think, server, code, needle):
    server.faults = [{"status": code}]
    proc = think(*remote(server))
    assert_one_line_error(proc, 1, needle)
    assert len(server.completion_requests()) == 1 and "Retrying" not in proc.stderr.decode()


def test_401_from_a_provider_names_its_key_variable(think, server):
    assert think("config", "set", "providers.lab.base_url", server.url).returncode == 0
    server.faults = [{"status": 401}]
    proc = think("Hi?", "-m", "lab:fault-model", "--max-tokens", "8")
    assert_one_line_error(proc, 1, "(401 Unauthorized); set LAB_API_KEY or run `think keys set lab`")
    proc = think("Hi?", "-m", "lab:fault-model", "--max-tokens", "8", env={"LAB_API_KEY": KEY})
    assert proc.returncode == 0, proc.stderr
    assert server.completion_requests()[-1]["headers"]["Authorization"] == f"Bearer {KEY}"


def test_models_lists_configured_remote_models_next_to_local_ones(think, server):
    assert think("config", "set", "providers.lab.base_url", server.url).returncode == 0
    assert think("config", "set", "aliases.fast", "lab:fault-model").returncode == 0
    rows = json.loads(think("models", "--json", env={"OPENAI_API_KEY": ENV_KEY}).stdout)
    kinds = {(r["name"], r["kind"]) for r in rows}
    assert {("smollm2-135m", "embedded"), ("lab:*", "remote"), ("fast", "alias"), ("openai:*", "remote")} <= kinds
    assert ENV_KEY not in json.dumps(rows)
    proc = think("What is 2 + 2?", "-m", "fast", "--max-tokens", "8")
    assert proc.returncode == 0 and proc.stdout == b"4\n"


def test_an_unreachable_server_is_exit_3(think):
    url = f"http://127.0.0.1:{free_port()}/v1"
    proc = think("Hi?", "-m", "openai:x", "--base-url", url, "--max-retries", "1")
    assert_one_line_error(proc, 3, f"cannot reach {url} (connection refused) after 1 retries")
    assert lines(proc)[0].endswith("(connection refused)")


def test_a_dropped_connection_is_retried(think, server):
    server.faults = [{"drop": True}]
    proc = think(*remote(server))
    assert proc.returncode == 0, proc.stderr
    assert lines(proc)[0].endswith("(connection dropped)")


def test_a_read_timeout_is_configurable_and_named(think, server):
    server.delay = 1.5
    proc = think(*remote(server, "--max-retries", "0"), env={"THINK_READ_TIMEOUT": "0.3"})
    assert_one_line_error(proc, 1, "sent nothing for 0.3 s (read timeout)", "read_timeout")


# -- broken streams ------------------------------------------------------------------------


@pytest.mark.parametrize("fault,reason", [("cut", "stream cut mid-answer"), ("malformed", "malformed data in the stream"),
                                          ("empty", "the server returned no choices"),
                                          ("stream_error", "server error mid-stream: the model crashed")])
def test_a_broken_stream_is_retried_once_then_fails(think, server, fault, reason):
    server.faults = [{fault: True}]
    proc = think(*remote(server))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == b"4\n" and lines(proc)[0].endswith(f"({reason})")
    server.faults = [{fault: True}, {fault: True}]
    proc = think(*remote(server))
    assert_one_line_error(proc, 1, f"broke the stream twice ({reason})")


def test_samples_already_finished_are_kept(think, server):
    server.honour_n = False
    server.fault_when = lambda body: {"cut": True} if body.get("seed") == 3 else None  # sample 2 of seed 1
    proc = think(*remote(server, "--strategy", "best-of-n", "--samples", "3", "--seed", "1", "--json"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["answer"] == "4"
    assert sorted(s["finish_reason"] for s in doc["samples"]) == ["error", "stop", "stop"]
    assert len(server.completion_requests()) == 4  # the n probe, sample 1, sample 2 and its one retry


def test_a_server_ignoring_n_is_remembered_across_runs(think, server, isolated_config):
    server.honour_n = False
    first = think(*remote(server, "--strategy", "best-of-n", "--samples", "3"))
    assert first.returncode == 0, first.stderr
    assert [r["body"].get("n") for r in server.completion_requests()] == [3, None, None]
    assert json.loads((isolated_config / "servers.json").read_text())[server.url]["n"] is False
    server.requests.clear()
    second = think(*remote(server, "--strategy", "best-of-n", "--samples", "3"))
    assert second.returncode == 0, second.stderr
    assert [r["body"].get("n") for r in server.completion_requests()] == [None, None, None]


# -- keys --------------------------------------------------------------------------------------


def test_a_key_set_for_one_base_url_is_not_sent_to_another(think, server):
    other = FaultServer().start()
    try:
        assert think("keys", "set", "mine", "--base-url", server.url, input=KEY).returncode == 0
        assert think(*remote(server)).returncode == 0
        assert think(*remote(other)).returncode == 0
    finally:
        other.stop()
    assert server.completion_requests()[0]["headers"]["Authorization"] == f"Bearer {KEY}"
    assert "Authorization" not in other.completion_requests()[0]["headers"]


def test_openai_api_key_goes_only_where_openai_base_url_points(think, server):
    proc = think(*remote(server), env={"OPENAI_API_KEY": ENV_KEY})
    assert proc.returncode == 0
    assert "Authorization" not in server.completion_requests()[-1]["headers"]
    proc = think("Hi?", "-m", "openai:fault-model", "--max-tokens", "8", env={"OPENAI_API_KEY": ENV_KEY, "OPENAI_BASE_URL": server.url})
    assert proc.returncode == 0, proc.stderr
    assert server.completion_requests()[-1]["headers"]["Authorization"] == f"Bearer {ENV_KEY}"


def test_the_key_never_reaches_output_errors_or_history(think, server, isolated_config, tmp_path):
    assert think("keys", "set", "mine", "--base-url", server.url, input=KEY).returncode == 0
    ok = think(*remote(server, "--json"))
    server.faults = [{"echo_auth": 401}]
    refused = think(*remote(server))
    server.faults = [{"echo_auth": 400}]
    bad = think(*remote(server))
    assert ok.returncode == 0 and refused.returncode == 1 and bad.returncode == 1
    assert "rejected the API key" in refused.stderr.decode() and "***" in bad.stderr.decode()
    for proc in (ok, refused, bad):
        assert KEY.encode() not in proc.stdout + proc.stderr
    leaked = [p for p in list(Path(tmp_path).rglob("*")) + list(isolated_config.rglob("*"))
              if p.is_file() and p.name != "keys.toml" and KEY.encode() in p.read_bytes()]
    assert leaked == []


# -- Ctrl-C -------------------------------------------------------------------------------------


def test_ctrl_c_cancels_in_flight_requests_and_keeps_the_best_answer(server):
    server.reply = "Final answer: 4\n" + " ".join(["and"] * 200)
    server.token_delay = 0.05
    server.honour_n = False
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "thinkcli", *remote(server, "--max-tokens", "300")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while not server.completion_requests() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # some tokens streamed, the answer not finished
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert b"Traceback" not in err
    assert out == b"4\n"
    assert b"interrupted" in err
