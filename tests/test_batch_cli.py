"""`think batch` through the real CLI against the fault server on 127.0.0.1: rows and ids,
resume after SIGKILL, failures, budgets, bounded concurrency, order, bad input."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_in_pty
from tests.faultserver import FaultServer

pytestmark = pytest.mark.server
QUESTION = re.compile(r"What is (\d+) \+ 1\?")


def answer_to(body: dict, number: int) -> str:
    """The reply names the answer to the question it was asked, so a row mixed up with another shows."""
    found = QUESTION.search(json.dumps(body))
    return f"Adding one.\nFinal answer: {int(found.group(1)) + 1}" if found else "Final answer: ?"


@pytest.fixture(autouse=True)
def no_host_keys(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    srv = FaultServer(reply=answer_to).start()
    yield srv
    srv.stop()


def questions(path: Path, count: int, **extra) -> Path:
    path.write_text("".join(json.dumps({"id": f"q{k}", "question": f"What is {k} + 1?", **extra}) + "\n"
                            for k in range(count)))
    return path


def remote(srv: FaultServer, *args: str) -> list[str]:
    return ["batch", *args, "-m", "openai:fault-model", "--base-url", srv.url, "--max-tokens", "16"]


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_question_gets_one_row_with_its_id_and_the_json_document(think, server, tmp_path):
    src, out = questions(tmp_path / "q.jsonl", 12), tmp_path / "a.jsonl"
    proc = think(*remote(server, str(src), "-o", str(out), "--concurrency", "4"))
    assert proc.returncode == 0, proc.stderr
    rows = rows_of(out)
    assert sorted(r["id"] for r in rows) == sorted(f"q{k}" for k in range(12))
    assert all(r["answer"] == str(int(r["id"][1:]) + 1) for r in rows)  # each row answers its own question
    single = think("What is 3 + 1?", "-m", "openai:fault-model", "--base-url", server.url, "--max-tokens", "16", "--json")
    assert set(rows[0]) == {"id", *json.loads(single.stdout)}
    err = proc.stderr.decode().strip().splitlines()
    assert len(err) == 1 and err[0].startswith("batch: 12 answered · tokens ") and "questions/s" in err[0]
    assert proc.stdout == b""


def test_plain_lines_from_stdin_to_stdout(think, server):
    proc = think(*remote(server, "-", "--lines"), input="What is 1 + 1?\n\nWhat is 5 + 1?\n")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert sorted((r["id"], r["answer"]) for r in rows) == [(1, "2"), (3, "6")]


def test_a_row_overrides_the_command_line(think, server, tmp_path):
    src = tmp_path / "q.jsonl"
    src.write_text(json.dumps({"id": "a", "question": "What is 1 + 1?"}) + "\n"
                   + json.dumps({"id": "b", "question": "What is 2 + 1?", "samples": 3, "strategy": "vote",
                                 "system": "Be brief."}) + "\n")
    proc = think(*remote(server, str(src), "-o", str(tmp_path / "a.jsonl")))
    assert proc.returncode == 0, proc.stderr
    rows = {r["id"]: r for r in rows_of(tmp_path / "a.jsonl")}
    assert rows["a"]["strategy"] == "cot" and len(rows["a"]["samples"]) == 1
    assert rows["b"]["strategy"] == "vote" and rows["b"]["plan"]["samples"] == 3
    systems = [m["content"] for r in server.completion_requests() for m in r["body"]["messages"] if m["role"] == "system"]
    assert "Be brief." in systems


def test_ordered_output_is_in_input_order_though_later_questions_finish_first(think, server, tmp_path):
    server.fault_when = lambda body: {"delay": 0.6} if "What is 0 + 1?" in json.dumps(body) else None
    src = questions(tmp_path / "q.jsonl", 8)
    unordered = think(*remote(server, str(src), "-o", str(tmp_path / "u.jsonl"), "--concurrency", "4"))
    ordered = think(*remote(server, str(src), "-o", str(tmp_path / "o.jsonl"), "--concurrency", "4", "--ordered"))
    assert unordered.returncode == 0 and ordered.returncode == 0, ordered.stderr
    assert [r["id"] for r in rows_of(tmp_path / "o.jsonl")] == [f"q{k}" for k in range(8)]
    assert rows_of(tmp_path / "u.jsonl")[0]["id"] != "q0"  # the slow first question finished last


def test_concurrency_is_bounded_by_the_flag(think, server, tmp_path):
    server.delay = 0.2
    proc = think(*remote(server, str(questions(tmp_path / "q.jsonl", 20)), "-o", str(tmp_path / "a.jsonl"),
                         "--concurrency", "3"))
    assert proc.returncode == 0, proc.stderr
    assert server.peak_in_flight == 3 and len(server.completion_requests()) == 20


def test_a_failed_row_is_recorded_and_the_rest_complete(think, server, tmp_path):
    server.fault_when = lambda body: {"status": 400, "body": {"error": {"message": "bad prompt"}}} \
        if "What is 4 + 1?" in json.dumps(body) else None
    out = tmp_path / "a.jsonl"
    proc = think(*remote(server, str(questions(tmp_path / "q.jsonl", 8)), "-o", str(out)))
    assert proc.returncode == 1, proc.stderr
    rows = {r["id"]: r for r in rows_of(out)}
    assert len(rows) == 8 and "bad prompt" in rows["q4"]["error"] and rows["q4"]["status"] == 1
    assert all(rows[f"q{k}"]["answer"] == str(k + 1) for k in range(8) if k != 4)
    assert "batch: 7 answered · 1 failed" in proc.stderr.decode()
    # a rerun asks only the failed question again, and replaces its row
    server.fault_when = None
    server.requests.clear()
    again = think(*remote(server, str(tmp_path / "q.jsonl"), "-o", str(out)))
    assert again.returncode == 0, again.stderr
    assert len(server.completion_requests()) == 1
    rows = rows_of(out)
    assert sorted(r["id"] for r in rows) == sorted(f"q{k}" for k in range(8)) and not any("error" in r for r in rows)


def test_bad_rows_are_usage_errors_naming_the_line_before_anything_runs(think, server, tmp_path):
    cases = {
        b'{"question": "What is 1 + 1?"}\n{"question": 3 + }\n': "q.jsonl:2: not JSON",
        b'{"question": "What is 1 + 1?"}\n\n{"id": 7}\n': 'q.jsonl:3: the row has no "question" string',
        b'{"question": "What is 1 + 1?"}\n\x00\x01\xfe\n': "q.jsonl:2: binary data, not text",
        b'{"question": "What is 1 + 1?", "effort": "max"}\n': "q.jsonl:1: effort must be one of",
    }
    for data, message in cases.items():
        src, out = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
        src.write_bytes(data)
        proc = think(*remote(server, "q.jsonl", "-o", "a.jsonl"), cwd=tmp_path)
        err = proc.stderr.decode()
        assert proc.returncode == 2, err
        assert not out.exists()  # nothing was started, not even the output
        assert err.count("\n") == 1 and err.startswith(f"think: error: {message}"), err
        assert "Traceback" not in err
    assert server.completion_requests() == []


def batch_in_background(args: list[str], out: Path, rows: int) -> subprocess.Popen:
    """Start the CLI and return once ``out`` holds ``rows`` rows (stderr kept, for a test to read)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "thinkcli", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < rows):
        time.sleep(0.02)
    return proc


def test_sigkill_mid_batch_then_rerun_answers_every_id_exactly_once(think, server, tmp_path):
    server.delay = 0.15
    src, out = questions(tmp_path / "q.jsonl", 40), tmp_path / "a.jsonl"
    proc = batch_in_background(remote(server, str(src), "-o", str(out), "-c", "4"), out, rows=8)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    kept = [json.loads(line)["id"] for line in out.read_text().splitlines() if line.endswith("}")]
    assert 8 <= len(kept) < 40
    server.requests.clear()
    again = think(*remote(server, str(src), "-o", str(out), "-c", "4"))
    assert again.returncode == 0, again.stderr
    ids = [r["id"] for r in rows_of(out)]
    assert sorted(ids) == sorted(f"q{k}" for k in range(40))  # every id, once
    asked = len(server.completion_requests())
    assert asked <= 40 - len(kept) + 1  # only what was missing (a torn last line is asked again)
    assert f"{40 - asked} already answered" in again.stderr.decode()


def test_ctrl_c_writes_whole_rows_exits_130_and_resumes(think, server, tmp_path):
    server.delay = 0.3
    src, out = questions(tmp_path / "q.jsonl", 30), tmp_path / "a.jsonl"
    proc = batch_in_background(remote(server, str(src), "-o", str(out), "-c", "3"), out, rows=3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err.decode() and "Traceback" not in err.decode()
    text = out.read_text()
    assert text.endswith("\n") and all(json.loads(line)["answer"] for line in text.splitlines())
    again = think(*remote(server, str(src), "-o", str(out), "-c", "3"))
    assert again.returncode == 0, again.stderr
    assert sorted(r["id"] for r in rows_of(out)) == sorted(f"q{k}" for k in range(30))


def test_unreachable_server_stops_the_batch_with_exit_3_and_writes_nothing(think, tmp_path):
    from tests.test_openai_faults import free_port

    out = tmp_path / "a.jsonl"
    proc = think("batch", str(questions(tmp_path / "q.jsonl", 5)), "-o", str(out), "-m", "openai:x",
                 "--base-url", f"http://127.0.0.1:{free_port()}/v1", "--max-retries", "0")
    err = proc.stderr.decode()
    assert proc.returncode == 3, err
    assert "think: error: cannot reach" in err and "Traceback" not in err
    assert out.read_text() == ""


def test_the_progress_bar_draws_on_a_terminal(server, tmp_path):
    server.delay = 0.1
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    status, screen, _ = run_in_pty([*remote(server, str(questions(tmp_path / "q.jsonl", 12)), "-o",
                                            str(tmp_path / "a.jsonl"), "-c", "2")], env, cols=160)
    assert status == 0, screen
    assert "ETA" in screen and "q/s" in screen and "/12" in screen
    assert "batch: 12 answered" in screen


def test_the_cost_cap_stops_new_questions_when_the_next_could_overspend(think, server, tmp_path, isolated_config):
    import thinkcli

    (isolated_config / "prices.toml").write_text('[models."fault-model"]\ninput = 1000.0\noutput = 2000.0\n')
    src = tmp_path / "q.jsonl"
    src.write_text("".join(json.dumps({"id": k, "question": f"What is {k} + 1?"}) + "\n" for k in range(10, 30)))
    backend = thinkcli.load_model("openai:fault-model", base_url=server.url)
    _, worst = thinkcli.worst_case("What is 10 + 1?", model=backend, max_tokens=16)
    backend.close()
    spent = think(*remote(server, str(src), "-o", str(tmp_path / "probe.jsonl")))
    one = rows_of(tmp_path / "probe.jsonl")[0]["cost_usd"]  # what one question really costs
    cap = worst + 4.5 * one  # room for 5 questions, the fifth only if it cannot overspend
    server.requests.clear()
    proc = think(*remote(server, str(src), "-o", str(tmp_path / "a.jsonl"), "-c", "1", "--max-cost", f"{cap}"))
    assert spent.returncode == 0
    err = proc.stderr.decode()
    assert proc.returncode == 1, err
    rows = rows_of(tmp_path / "a.jsonl")
    expected = int((cap - worst) // one) + 1  # the k-th starts only while (k-1) spent + its worst case fit
    assert len(rows) == expected == 5 and len(server.completion_requests()) == 5
    assert sum(r["cost_usd"] for r in rows) <= cap
    assert "stopped by cost budget, 15 not started" in err
    # concurrently, reservations still keep the whole batch under the cap
    proc = think(*remote(server, str(src), "-o", str(tmp_path / "c.jsonl"), "-c", "8", "--max-cost", f"{cap}"))
    assert sum(r["cost_usd"] for r in rows_of(tmp_path / "c.jsonl")) <= cap


def bench_set(path: Path, count: int) -> Path:
    path.write_text("".join(json.dumps({"question": f"What is {k} + 1?", "answer": k + 1}) + "\n"
                            for k in range(count)))
    return path


def bench_args(srv: FaultServer, data: Path, *args: str) -> list[str]:
    return ["bench", str(data), "--strategy", "cot", "-n", "1", "-m", "openai:fault-model", "--base-url", srv.url,
            "--max-tokens", "16", *args]


def test_bench_runs_questions_concurrently_and_its_table_counts_every_one(think, server, tmp_path):
    server.delay = 0.2
    proc = think(*bench_args(server, bench_set(tmp_path / "d.jsonl", 12), "-c", "4"))
    assert proc.returncode == 0, proc.stderr
    assert server.peak_in_flight == 4 and len(server.completion_requests()) == 12
    assert "100.0% (12/12)" in proc.stdout.decode()
    assert proc.stderr.decode().startswith("bench: 12 answered")


def test_bench_resumes_from_its_rows_after_a_budget_stop(think, server, tmp_path, isolated_config):
    (isolated_config / "prices.toml").write_text('[models."fault-model"]\ninput = 1000.0\noutput = 2000.0\n')
    data, rows = bench_set(tmp_path / "d.jsonl", 10), tmp_path / "rows.jsonl"
    first = think(*bench_args(server, data, "-o", str(rows), "--max-cost", "0.3"))
    assert first.returncode == 1, first.stderr
    done = len(rows.read_text().splitlines())
    assert 0 < done < 10 and "stopped by cost budget" in first.stderr.decode()
    server.requests.clear()
    again = think(*bench_args(server, data, "-o", str(rows), "--json"))
    assert again.returncode == 0, again.stderr
    assert len(server.completion_requests()) == 10 - done
    cell = json.loads(again.stdout)["cells"][0]
    assert (cell["correct"], cell["total"]) == (10, 10)
    assert [q["id"] for q in cell["questions"]] == [f"{data}:{k}" for k in range(1, 11)]
