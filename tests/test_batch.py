"""thinkcli.batch through the library face on the scripted backend (exact), and on the real
model: the local one in-process, and llama-cpp-python's server through the CLI."""

from __future__ import annotations

import json
import re

import pytest

import thinkcli
from tests.test_openai_server import llama_server  # noqa: F401 (a fixture: the server, started once)
from thinkcli import batch
from thinkcli.errors import BackendError
from thinkcli.events import BatchStarted, ListSink

QUESTION = re.compile(r"What is (\d+) \+ 1\?")


class Rows:
    """An Output that keeps the rows it is given."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def write(self, row: dict) -> None:
        self.rows.append(row)


def add_one(call, i) -> str:
    text = json.dumps(call.messages)
    return f"Final answer: {int(QUESTION.search(text).group(1)) + 1}"


def jsonl(*rows: dict) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def ask(fake, data: bytes, options: dict | None = None, **kw):
    rows = batch.parse(data, "q.jsonl")
    budgets = kw.get("max_cost") is not None or kw.get("max_total_tokens") is not None
    plan = batch.prepare(rows, "q.jsonl", options or {}, fake, {}, budgets=budgets)
    out, sink = Rows(), ListSink()
    summary = batch.run_batch(plan, fake, out, sink=sink, **kw)
    return out.rows, summary, sink


def test_rows_are_the_json_document_plus_id_in_input_order(fake):
    fake.responder = add_one
    rows, summary, sink = ask(fake, jsonl(*({"question": f"What is {k} + 1?"} for k in range(5))), {"max_tokens": 8},
                              ordered=True, concurrency=4)
    assert [(r["id"], r["answer"]) for r in rows] == [(k + 1, str(k + 1)) for k in range(5)]  # ids: line numbers
    single = thinkcli.run("What is 0 + 1?", model=fake, settings={}, max_tokens=8)
    assert set(rows[0]) == {"id", *single.as_dict()}
    assert sink.of(BatchStarted)[0].concurrency == 1  # a local model takes one question at a time
    assert (summary.answered, summary.failed, summary.stopped_by) == (5, 0, None)


def test_a_row_overrides_the_shared_options(fake):
    fake.responder = add_one
    data = jsonl({"id": "a", "question": "What is 1 + 1?"},
                 {"id": "b", "question": "What is 2 + 1?", "strategy": "best-of-n", "samples": 3,
                  "system": "Be brief.", "max_tokens": 4})
    rows, _, _ = ask(fake, data, {"max_tokens": 8, "temperature": 0.1})
    a, b = fake.calls
    assert (a.n, a.params.max_tokens, a.params.temperature) == (1, 8, 0.1)
    assert (b.n, b.params.max_tokens, b.params.temperature) == (3, 4, 0.1)
    assert b.messages[0] == {"role": "system", "content": "Be brief."}
    assert [r["strategy"] for r in rows] == ["cot", "best-of-n"]


def test_a_failing_question_is_recorded_and_the_rest_answered(fake):
    def respond(call, i):
        if "What is 2 + 1?" in json.dumps(call.messages):
            raise BackendError("the server said 500 five times")
        return add_one(call, i)

    fake.responder = respond
    rows, summary, _ = ask(fake, jsonl(*({"question": f"What is {k} + 1?"} for k in range(4))), {"max_tokens": 8},
                           ordered=True)
    assert rows[2] == {"id": 3, "error": "the server said 500 five times", "status": 1}
    assert [r.get("answer") for r in rows] == ["1", "2", None, "4"]
    assert (summary.answered, summary.failed) == (3, 1)


def test_the_token_budget_starts_a_question_only_when_its_worst_case_fits(fake):
    fake.responder = add_one
    data = jsonl(*({"question": f"What is {k} + 1?"} for k in range(10, 30)))
    usage, _ = thinkcli.worst_case("What is 10 + 1?", model=fake, settings={}, max_tokens=8)
    one = thinkcli.run("What is 10 + 1?", model=fake, settings={}, max_tokens=8).usage.total_tokens
    cap = usage.total_tokens + 3 * one + one // 2
    fake.calls.clear()
    rows, summary, _ = ask(fake, data, {"max_tokens": 8}, max_total_tokens=cap)
    assert len(rows) == 4 == (cap - usage.total_tokens) // one + 1
    assert summary.stopped_by == "tokens" and summary.usage.total_tokens == 4 * one <= cap
    assert summary.not_started == 16 and len(fake.calls) == 4


def test_worst_case_counts_every_call_a_strategy_may_make(fake):
    def worst(**options):
        return thinkcli.worst_case("What is 10 + 1?", model=fake, settings={}, max_tokens=10, **options)[0]

    question = fake.count_tokens("\nWhat is 10 + 1?")  # 4 words
    per_call = (3 * question + 1) // 2 + 128
    assert worst().total_tokens == per_call + 10  # cot: one call
    assert worst(effort="medium").total_tokens == 5 * (per_call + 10)  # vote of up to 5
    assert worst(strategy="refine", rounds=2).total_tokens == 5 * (per_call + 20 + 10)  # quotes replies
    assert worst(samples=4, strategy="best-of-n", verify="true").total_tokens == 8 * (per_call + 10)


# -- the real parts -------------------------------------------------------------------


@pytest.mark.model
def test_the_local_model_answers_a_batch_and_records_an_over_context_question(embedded_model, tmp_path, think):
    src = tmp_path / "q.jsonl"
    src.write_text(json.dumps({"id": "short", "question": "What is 2 + 2?"}) + "\n"
                   + json.dumps({"id": "long", "question": "word " * 3000}) + "\n"
                   + json.dumps({"id": "again", "question": "Name a colour.", "samples": 2, "strategy": "vote"}) + "\n")
    proc = think("batch", str(src), "-o", str(tmp_path / "a.jsonl"), "--max-tokens", "16", "--ordered",
                 "--threads", "2", env={"THINK_CONTEXT": "512"})
    assert proc.returncode == 1, proc.stderr  # one row failed
    rows = [json.loads(line) for line in (tmp_path / "a.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["short", "long", "again"]
    assert rows[0]["answer"] and rows[0]["cost_usd"] == 0 and rows[2]["plan"]["samples"] == 2
    assert "context is 512 tokens" in rows[1]["error"] and rows[1]["status"] == 2
    assert "batch: 2 answered · 1 failed" in proc.stderr.decode()


@pytest.mark.model
@pytest.mark.server
def test_a_batch_against_llama_cpp_pythons_server(llama_server, tmp_path, think):  # noqa: F811
    src, out = tmp_path / "q.jsonl", tmp_path / "a.jsonl"
    src.write_text("".join(json.dumps({"id": k, "question": f"What is {k} + 1?"}) + "\n" for k in range(4)))
    proc = think("batch", str(src), "-o", str(out), "-m", "openai:local", "--base-url", llama_server,
                 "--max-tokens", "12", "-c", "2")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == [0, 1, 2, 3]
    assert all(r["usage"]["completion_tokens"] > 0 and r["model"] == "openai:local" for r in rows)
    again = think("batch", str(src), "-o", str(out), "-m", "openai:local", "--base-url", llama_server)
    assert again.returncode == 0 and "4 already answered" in again.stderr.decode()
    assert len(out.read_text().splitlines()) == 4
