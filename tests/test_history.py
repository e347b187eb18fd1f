"""The run history behind `think logs`."""

from __future__ import annotations

import json

import pytest

from thinkcli import history
from thinkcli.engine import Request, run
from thinkcli.events import ListSink


def test_record_and_read_back(fake, tmp_path):
    fake.enqueue("Final answer: 4", "Final answer: 9")
    db = tmp_path / "h.db"
    for q in ("2+2?", "3*3?"):
        result = run(Request(q), ListSink(), backend=fake)
        assert history.record(q, result, 0, path=db) is not None
    rows = history.recent(10, path=db)
    assert [(r["prompt"], r["answer"]) for r in rows] == [("3*3?", "9"), ("2+2?", "4")]
    assert json.loads(rows[0]["document"])["answer"] == "9"


def test_history_off_and_broken_paths_never_fail(fake, tmp_path, monkeypatch):
    fake.enqueue("Final answer: 4")
    result = run(Request("2+2?"), ListSink(), backend=fake)
    monkeypatch.setenv("THINK_NO_HISTORY", "1")
    assert history.record("2+2?", result, 0, path=tmp_path / "h.db") is None
    assert not (tmp_path / "h.db").exists()
    monkeypatch.delenv("THINK_NO_HISTORY")
    (tmp_path / "dir.db").mkdir()
    assert history.record("2+2?", result, 0, path=tmp_path / "dir.db") is None


@pytest.mark.model
def test_cli_runs_are_logged(think, isolated_config):
    assert think("Say yes.", "--max-tokens", "8", "--seed", "1").returncode == 0
    think("Say no.", "--max-tokens", "8", "--seed", "1", env={"THINK_NO_HISTORY": "1"})
    out = think("logs", "--json").stdout
    docs = json.loads(out)
    assert [d["prompt"] for d in docs] == ["Say yes."]
    assert docs[0]["model"] == "smollm2-135m" and docs[0]["usage"]["completion_tokens"] > 0
    line = think("logs").stdout.decode()
    assert "'Say yes.'" in line and "exit 0" in line
