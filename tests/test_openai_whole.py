"""Runs that no one watches token by token, against the fault server on 127.0.0.1: whole
answers (``stream=False``: think batch and think bench), when the stream is kept anyway,
cancelling a whole answer in flight, and connections kept alive across a batch."""

from __future__ import annotations

import json
import threading
import time

import pytest

import thinkcli
from tests import test_batch_cli
from tests.faultserver import FaultServer
from tests.test_batch_cli import questions, remote, rows_of

pytestmark = pytest.mark.server
server = test_batch_cli.server  # the fault server whose replies answer the question asked
no_host_keys = test_batch_cli.no_host_keys


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def streamed(srv: FaultServer) -> list:
    return [r["body"].get("stream") for r in srv.completion_requests()]


def test_a_batch_asks_for_whole_answers_and_writes_the_same_rows(think, server, tmp_path):
    src, out = questions(tmp_path / "q.jsonl", 6), tmp_path / "a.jsonl"
    proc = think(*remote(server, str(src), "-o", str(out), "--concurrency", "3"))
    assert proc.returncode == 0, proc.stderr
    assert streamed(server) == [False] * 6
    rows = {row["id"]: row for row in rows_of(out)}
    for k in range(6):
        row = rows[f"q{k}"]
        assert row["answer"] == str(k + 1)
        assert row["samples"][0]["text"] == f"Adding one.\nFinal answer: {k + 1}"
        assert row["usage"]["completion_tokens"] == 4 and not row["usage"]["estimated"]
    # the same question asked on its own still streams: a terminal may be watching it
    ask = think("What is 41 + 1?", "-m", "openai:fault-model", "--base-url", server.url, "--max-tokens", "16")
    assert ask.returncode == 0 and ask.stdout == b"42\n", ask.stderr
    assert streamed(server)[-1] is True


def test_bench_asks_for_whole_answers_too(think, server, tmp_path):
    data = tmp_path / "set.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {k} + 1?", "answer": k + 1}) + "\n" for k in range(4)))
    proc = think("bench", str(data), "--strategy", "cot", "-n", "1", "-m", "openai:fault-model",
                 "--base-url", server.url, "--max-tokens", "16", "--concurrency", "2")
    assert proc.returncode == 0, proc.stderr
    assert streamed(server) == [False] * 4


def test_a_budget_that_stops_mid_answer_keeps_the_stream(server):
    backend = thinkcli.load_model("openai:fault-model", base_url=server.url)
    try:
        whole = thinkcli.run("What is 1 + 1?", model=backend, stream=False, max_tokens=16)
        tokens = thinkcli.run("What is 2 + 1?", model=backend, stream=False, max_tokens=16, max_total_tokens=500)
        timed = thinkcli.run("What is 3 + 1?", model=backend, stream=False, max_tokens=16, time_limit=30)
    finally:
        backend.close()
    assert [whole.answer, tokens.answer, timed.answer] == ["2", "3", "4"]
    assert streamed(server) == [False, True, True]


def test_cancel_ends_a_whole_answer_in_flight(server):
    server.delay = 20.0  # the answer would come long after the cancel
    backend = thinkcli.load_model("openai:fault-model", base_url=server.url)
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    start = time.monotonic()
    try:
        result = thinkcli.run("What is 1 + 1?", model=backend, stream=False, cancel=cancel, max_tokens=16)
    finally:
        backend.close()
    assert result.interrupted and result.answer is None
    assert time.monotonic() - start < 10, "the run waited for the answer instead of stopping"


def test_a_batch_keeps_one_connection_per_question_in_flight(think, server, tmp_path):
    server.delay = 0.25  # every answer overlaps others: 32 in flight, more than httpx's default keeps alive (20)
    src, out = questions(tmp_path / "q.jsonl", 160), tmp_path / "a.jsonl"
    proc = think(*remote(server, str(src), "-o", str(out), "--concurrency", "32"))
    assert proc.returncode == 0, proc.stderr
    assert len(rows_of(out)) == 160
    assert server.peak_in_flight == 32
    assert server.connections <= 32, "connections were closed and opened again between questions"


def test_behind_a_proxy_requests_go_through_httpx_own_pool(monkeypatch):
    import httpx

    from thinkcli.backends import pool

    assert isinstance(pool.Connections(httpx.Timeout(1.0)).transport, pool.Lean)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    assert pool.Connections(httpx.Timeout(1.0)).transport is None, "the client's proxy mounts would be skipped"
