"""The batch scheduler, rows, output file and budgets, exactly, with scripted work functions."""

from __future__ import annotations

import json
import threading
import time

import pytest

from thinkcli.batch.rows import parse
from thinkcli.errors import BackendError, ModelUnavailable, UsageError
from thinkcli.events import BatchStopped, ListSink, RowFinished, Usage
from thinkcli.jobs.budget import Ledger, Need
from thinkcli.jobs.output import Output
from thinkcli.jobs.runner import Done, Task, run_tasks


def tasks(n: int, need: Need | None = None) -> list[Task]:
    return [Task(i, f"q{i}", need or Need(0)) for i in range(n)]


def answer(task: Task, tokens: int = 10, cost: float | None = 0.0) -> Done:
    return Done({"id": task.id, "answer": str(task.position)}, Usage(tokens // 2, tokens - tokens // 2), cost, local=cost == 0.0)


def test_every_task_runs_once_and_concurrency_is_bounded():
    lock = threading.Lock()
    live = {"now": 0, "peak": 0}

    def work(task):
        with lock:
            live["now"] += 1
            live["peak"] = max(live["peak"], live["now"])
        time.sleep(0.01)
        with lock:
            live["now"] -= 1
        return answer(task)

    rows = []
    summary = run_tasks(tasks(40), work, rows.append, concurrency=4)
    assert sorted(r["id"] for r in rows) == sorted(f"q{i}" for i in range(40))
    assert live["peak"] == 4
    assert (summary.answered, summary.failed, summary.stopped_by, summary.usage.total_tokens) == (40, 0, None, 400)


def test_ordered_output_follows_input_order_whatever_finishes_first():
    def work(task):
        time.sleep(0.002 * (10 - task.position))  # later questions finish first
        return answer(task)

    rows = []
    run_tasks(tasks(10), work, rows.append, concurrency=5, ordered=True)
    assert [r["id"] for r in rows] == [f"q{i}" for i in range(10)]


def test_ordered_window_holds_back_new_tasks_behind_a_slow_one():
    started, release = [], threading.Event()

    def work(task):
        started.append(task.position)
        if task.position == 0:
            release.wait(5)
        return answer(task)

    def unblock():
        while len(started) < 4:
            time.sleep(0.01)
        time.sleep(0.1)  # had the window not held, more would have started by now
        assert sorted(started) == [0, 1, 2, 3]
        release.set()

    t = threading.Thread(target=unblock)
    t.start()
    rows = []
    run_tasks(tasks(8), work, rows.append, concurrency=3, ordered=True, window=4)
    t.join()
    assert [r["id"] for r in rows] == [f"q{i}" for i in range(8)]


def test_a_failed_row_is_recorded_and_the_rest_complete():
    def work(task):
        if task.position == 2:
            return Done(None, Usage(5, 0), error=BackendError("server said 500 four times"))
        return answer(task)

    rows, sink = [], ListSink()
    summary = run_tasks(tasks(5), work, rows.append, concurrency=2, sink=sink, ordered=True)
    assert rows[2] == {"id": "q2", "error": "server said 500 four times", "status": 1}
    assert [r["id"] for r in rows] == ["q0", "q1", "q2", "q3", "q4"]
    assert (summary.answered, summary.failed) == (4, 1)
    assert [e.ok for e in sink.of(RowFinished)].count(False) == 1


def test_an_unreachable_backend_stops_the_batch_without_recording_rows():
    calls = []

    def work(task):
        calls.append(task.position)
        return Done(None, fatal=ModelUnavailable("cannot reach http://x"))

    rows, sink = [], ListSink()
    summary = run_tasks(tasks(50), work, rows.append, concurrency=1, sink=sink)
    assert rows == [] and calls == [0]
    assert summary.stopped_by == "unavailable" and summary.not_started == 50
    assert sink.of(BatchStopped)[0].reason == "unavailable"


def test_cost_cap_stops_new_questions_when_the_next_could_overspend():
    # each question may spend $0.30 and really spends $0.25: after 3 ($0.75), a 4th could reach $1.05
    rows = []
    summary = run_tasks(tasks(10, Need(100, 0.30)), lambda t: answer(t, cost=0.25), rows.append,
                        concurrency=1, ledger=Ledger(max_cost=1.0))
    assert len(rows) == 3 and summary.stopped_by == "cost" and summary.cost == pytest.approx(0.75)
    assert summary.not_started == 7


def test_reservations_bound_concurrent_spending():
    # 4 at once would reserve $1.20 of a $1.00 cap: only 3 run together, and spending never passes the cap
    ledger = Ledger(max_cost=1.0)
    lock, live, peak = threading.Lock(), [0], [0]

    def work(task):
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        time.sleep(0.02)
        with lock:
            live[0] -= 1
        return answer(task, cost=0.1)

    summary = run_tasks(tasks(20, Need(100, 0.30)), work, lambda r: None, concurrency=4, ledger=ledger)
    assert peak[0] == 3
    assert summary.cost <= 1.0 and summary.stopped_by == "cost"
    assert summary.answered == 8  # $0.80 spent: a 9th could reach $1.10


def test_token_cap_counts_prompt_and_completion():
    rows = []
    summary = run_tasks(tasks(10, Need(40)), lambda t: answer(t, tokens=30), rows.append,
                        ledger=Ledger(max_tokens=100))
    assert len(rows) == 3 and summary.stopped_by == "tokens" and summary.usage.total_tokens == 90


def test_cancel_lets_questions_in_flight_finish_and_writes_no_partial_rows():
    cancel = threading.Event()

    def work(task):
        if task.position == 3:
            cancel.set()  # Ctrl-C arrives while question 3 runs
            return Done(None)  # an interrupted question writes nothing
        time.sleep(0.01)
        return answer(task)

    rows = []
    summary = run_tasks(tasks(20), work, rows.append, concurrency=2, cancel=cancel)
    assert summary.stopped_by == "interrupted"
    assert "q3" not in [r["id"] for r in rows] and len(rows) <= 4


def test_rows_name_the_bad_line():
    with pytest.raises(UsageError, match=r"^q.jsonl:2: not JSON"):
        parse(b'{"question": "a"}\n{question: b}\n', "q.jsonl")
    with pytest.raises(UsageError, match=r"^q.jsonl:3: binary data"):
        parse(b'{"question": "a"}\n\n\x00\x01\x02\n', "q.jsonl")
    with pytest.raises(UsageError, match=r"^q.jsonl:1: not UTF-8"):
        parse(b'{"question": "\xff"}\n', "q.jsonl")
    with pytest.raises(UsageError, match=r'^q.jsonl:2: "samples" must be an integer'):
        parse(b'{"question": "a"}\n{"question": "b", "samples": "8"}\n', "q.jsonl")
    with pytest.raises(UsageError, match=r"^q.jsonl:2: id \"a\" repeats the id on line 1"):
        parse(b'{"question": "x", "id": "a"}\n{"question": "y", "id": "a"}\n', "q.jsonl")
    with pytest.raises(UsageError, match="has no questions"):
        parse(b"\n\n", "q.jsonl")


def test_resume_skips_answered_ids_drops_failed_ones_and_cuts_a_torn_line(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_bytes(b'{"id": 1, "answer": "4"}\n{"id": 2, "error": "boom", "status": 1}\n'
                     b'{"id": "3", "answer": "9"}\n{"id": 4, "ans')
    out = Output(str(path))
    done = out.scan()
    assert path.read_bytes().endswith(b'{"id": 4, "ans')  # scanning changes nothing
    out.open()
    out.write({"id": 2, "answer": "x"})
    out.close()
    assert done == {"1", '"3"'} and out.retried == 1
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == [1, "3", 2]


def test_resume_refuses_a_file_it_did_not_write(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("my notes\n")
    with pytest.raises(UsageError, match="notes.txt:1: not a row"):
        Output(str(path)).scan()
    assert path.read_text() == "my notes\n"


def test_overwrite_starts_again(tmp_path):
    path = tmp_path / "out.jsonl"
    path.write_text('{"id": 1, "answer": "4"}\n')
    out = Output(str(path), overwrite=True)
    assert out.scan() == set()
    out.open()
    out.close()
    assert path.read_text() == ""


def test_ten_failures_in_a_row_stop_the_batch_but_scattered_ones_do_not():
    def work(task):
        if task.position < 3 or task.position >= 5:
            return Done(None, error=BackendError("401 Unauthorized: check OPENAI_API_KEY"))
        return answer(task)

    rows, sink = [], ListSink()
    summary = run_tasks(tasks(100), work, rows.append, sink=sink)
    assert (summary.answered, summary.failed, summary.stopped_by) == (2, 13, "failures")  # 3 fail, 2 answer, 10 fail
    assert summary.not_started == 85 and sink.of(BatchStopped)[0].detail.startswith("401 Unauthorized")
