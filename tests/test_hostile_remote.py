"""Remote calls that always end, and servers whose words cannot crash or leak: the real CLI
against the fault server on 127.0.0.1 in its hang, keep-alive, endless and echo modes."""

from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest

from tests.faultserver import FaultServer

KEY = "sk-hostile-test-0123456789abcdef"


@pytest.fixture(autouse=True)
def no_host_keys(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def serving(mode: dict) -> FaultServer:
    return FaultServer(fault_when=lambda body: dict(mode)).start()


def remote(srv: FaultServer, *args: str) -> tuple[str, ...]:
    return ("What is 2 + 2?", "-m", "openai:fault-model", "--base-url", srv.url, *args)


def clean(proc) -> str:
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err and "unexpected" not in err and "Task was destroyed" not in err, err
    return err


@pytest.mark.parametrize("mode", [{"hang": True}, {"keepalive": True}])
def test_time_limit_stops_a_server_that_never_sends_data(think, mode):
    srv = serving(mode)
    try:
        # The subprocess timeout is the proof that it ends; the limit is what ends it.
        r = think(*remote(srv, "--time-limit", "2", "--max-retries", "0"), timeout=60)
    finally:
        srv.stop()
    err = clean(r)
    assert r.returncode == 1 and "the model produced no answer" in err, err


def test_keepalive_forever_ends_at_the_read_timeout_without_a_time_limit(think):
    srv = serving({"keepalive": True})
    try:
        r = think(*remote(srv, "--max-retries", "0"), env={"THINK_READ_TIMEOUT": "1"}, timeout=60)
    finally:
        srv.stop()
    err = clean(r)
    assert r.returncode == 1 and "no data for 1 s" in err, err


def test_an_endless_stream_is_cut_at_max_tokens_on_the_client(think):
    srv = serving({"endless": True})
    try:
        r = think(*remote(srv, "--max-tokens", "50", "--json"), timeout=120)
    finally:
        srv.stop()
    clean(r)
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    [sample] = doc["samples"]
    assert sample["finish_reason"] == "length"
    assert sample["text"].count("more") <= 2 * 50 + 16  # the client's cap, not the server's will


def test_an_endless_stream_with_a_time_limit_keeps_what_it_got(think):
    srv = serving({"endless": True})
    try:
        r = think(*remote(srv, "--max-tokens", "100000", "--time-limit", "4"), timeout=60)
    finally:
        srv.stop()
    err = clean(r)
    assert r.returncode == 0 and "stopped by time" in err, err
    assert r.stdout.startswith(b"more") or b"more" in r.stdout


@pytest.mark.parametrize("value", ["Wed, 21 Oct 2015 07:28:10 GMT", "soon", "-5", "nan", "0"])
def test_retry_after_in_the_past_or_garbage_backs_off(think, value):
    srv = FaultServer().start()
    srv.faults.append({"status": 503, "retry_after": value})
    try:
        r = think(*remote(srv, "--max-retries", "1"), timeout=60)
    finally:
        srv.stop()
    err = clean(r)
    assert r.returncode == 0 and r.stdout == b"4\n"
    [line] = [ln for ln in err.splitlines() if ln.startswith("Retrying in")]
    assert not line.startswith("Retrying in 0.0 s"), line  # backoff, not an immediate retry


def test_a_key_the_server_echoes_is_blanked_everywhere(think, tmp_path):
    srv = FaultServer().start()
    srv.fault_when = lambda body: {"echo_key": True}
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": srv.url, "THINK_HISTORY_DB": str(tmp_path / "h.db")}
    try:
        plain = think("what is my key?", "-m", "openai:fault-model", env=env, timeout=60)
        as_json = think("what is my key?", "-m", "openai:fault-model", "--json", env=env, timeout=60)
        logs = think("logs", env=env)
        logs_json = think("logs", "--json", env=env)
    finally:
        srv.stop()
    assert srv.completion_requests()[0]["headers"]["Authorization"] == f"Bearer {KEY}"  # it did go to its server
    for proc in (plain, as_json, logs, logs_json):
        clean(proc)
        assert proc.returncode == 0
        assert KEY.encode() not in proc.stdout + proc.stderr
    assert b"***" in plain.stdout and b"***" in as_json.stdout
    db = (tmp_path / "h.db").read_bytes()
    assert KEY.encode() not in db
    rows = sqlite3.connect(tmp_path / "h.db").execute("select answer, document from runs").fetchall()
    assert rows and all("***" in answer for answer, _ in rows)


def test_openai_key_never_goes_to_a_configured_openai_provider_url(think, isolated_config):
    srv = FaultServer().start()
    (isolated_config / "config.toml").write_text(f'[providers.openai]\nbase_url = "{srv.url}"\n')
    try:
        r = think("hi", "-m", "openai:fault-model", env={"OPENAI_API_KEY": KEY}, timeout=60)
    finally:
        srv.stop()
    clean(r)
    assert r.returncode == 0
    [req] = srv.completion_requests()
    assert "Authorization" not in req["headers"]


def test_a_bad_key_in_the_environment_is_one_line(think):
    srv = FaultServer().start()
    try:
        r = think(*remote(srv), env={"OPENAI_API_KEY": "sk-\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", "OPENAI_BASE_URL": srv.url})
    finally:
        srv.stop()
    err = clean(r)
    assert r.returncode == 2 and "not a valid API key" in err and "\u00e9\u00e9" not in err


@pytest.mark.parametrize("reply", ["Final answer: [/]", "[bold]x[/bold] [/] [link=x]y", "\x1b]52;c;ZXZpbA==\x07ok\x1b[2J"])
def test_model_text_is_text_on_the_terminal(reply, isolated_config):
    from tests.conftest import run_in_pty

    srv = FaultServer(reply=reply).start()
    try:
        env = {**__import__("os").environ, "TERM": "xterm", "THINK_BASE_URL": srv.url}
        env.pop("NO_COLOR", None)
        status, screen, out = run_in_pty(["hi", "-m", "openai:fault-model"], env, timeout=60)
    finally:
        srv.stop()
    assert status == 0, screen
    assert "Traceback" not in screen and "MarkupError" not in screen
    assert "\x1b]52" not in screen and "\x1b[2J" not in screen, repr(screen)
    assert out.rstrip(b"\n").endswith(reply.rsplit(" ", 1)[-1].encode())  # stdout is a pipe: bytes as sent


def test_sigterm_during_verify_kills_the_group_and_removes_the_copy(tmp_path):
    import os
    import signal
    import sys
    import time

    from tests.test_sandbox import group_alive

    srv = FaultServer(reply="Final answer: 4").start()
    marker = tmp_path / "pgid"
    env = {**os.environ, "TMPDIR": str(tmp_path), "THINK_BASE_URL": srv.url}
    cmd = f"echo $$ > {marker}; sleep 120"
    proc = subprocess.Popen([sys.executable, "-m", "thinkcli", "hi", "-m", "openai:fault-model", "--verify", cmd],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(300):
            if marker.exists() and marker.read_text().strip():
                break
            time.sleep(0.1)
        pgid = int(marker.read_text())
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        srv.stop()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert b"Traceback" not in err
    assert out == b"4\n"  # the best answer so far is still printed
    for _ in range(100):  # SIGKILL is delivered at once; the kernel may take a moment to reap
        if not group_alive(pgid):
            break
        time.sleep(0.05)
    assert not group_alive(pgid)
    assert not list(tmp_path.glob("think-verify-*"))
