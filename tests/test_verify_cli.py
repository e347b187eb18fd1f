"""`--verify CMD` on `think ask`: verdicts, events, exit 4, pipes, JSON, secrets.

The scripted backend runs the real CLI in-process (``-m fake:scripted``, registered
by conftest through ``thinkcli.register_backend``); the embedded model runs it once as a subprocess.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.test_sandbox import git
from thinkcli import engine
from thinkcli.cli import app
from thinkcli.engine import Request
from thinkcli.events import ListSink, VerifyDone, VerifyStarted
from thinkcli.verify.base import Candidate
from thinkcli.verify.command import CommandVerifier

BUGGY = "def add(a, b):\n    return a - b\n"
FIXED = "def add(a, b):\n    return a + b\n"
TESTS = (
    "from calc import add\n\n\n"
    "def test_add():\n    assert add(2, 3) == 5\n\n\n"
    "def test_zero():\n    assert add(0, 0) == 0\n"
)
PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider tests/test_calc.py"
RIGHT = f"The bug is the minus.\n\n```python path=calc.py\n{FIXED}```\n\nFinal answer: use +"
WRONG = f"Try this.\n\n```python path=calc.py\n{BUGGY.replace('a - b', 'a * b')}```\n\nFinal answer: multiply"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A git repository with a one-line bug and a pytest test that catches it; the cwd."""
    root = tmp_path / "proj"
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(BUGGY)
    (root / "tests" / "test_calc.py").write_text(TESTS)
    (root / "conftest.py").write_text("")  # puts the project root on sys.path for pytest
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "-c", "user.email=t@e", "-c", "user.name=T", "commit", "-qm", "init")
    monkeypatch.chdir(root)
    return root


def invoke(*args: str, input: str | None = None):
    """``think -m fake:scripted ARGS``: the model is the scripted FakeBackend (the ``scripted`` fixture)."""
    return CliRunner().invoke(app, ["-m", "fake:scripted", *args], input=input, catch_exceptions=False)


def test_verifier_scores_right_wrong_and_rejected_candidates(project):
    v = CommandVerifier(PYTEST, timeout=60)
    right = v.score(Candidate(0, RIGHT, "use +", question="fix calc"))
    assert (right.passed, right.score, right.detail) == (True, 1.0, "2 passed")
    assert right.extra["changed"] == ["calc.py"] and right.extra["files"] == {"calc.py": FIXED}
    wrong = v.score(Candidate(1, WRONG, "multiply", question="fix calc"))
    assert (wrong.passed, wrong.score) == (False, 0.5)
    assert wrong.detail.startswith("1 passed, 1 failed: FAILED tests/test_calc.py::test_add")
    assert "assert 6 == 5" in wrong.output  # what refine feeds back
    bad = v.score(Candidate(2, "```python path=calc.py\ndef add(a, b):\n", None, question="fix calc"))
    assert (bad.passed, bad.score) == (False, 0.0) and bad.detail.startswith("rejected: the code block for calc.py is not closed")
    same = v.score(Candidate(3, f"```python path=calc.py\n{BUGGY}```", None, question="fix calc"))
    assert same.detail == "rejected: its files are the same as the current ones"
    assert v.score(Candidate(4, "Final answer: 5", "5", question="q")).detail.startswith("1 passed, 1 failed")  # plain: run
    fixing = CommandVerifier(PYTEST, allowed=["calc.py"])
    assert fixing.score(Candidate(5, "Final answer: 5", "5", question="q")).detail == (
        "rejected: it has no file in it (a fenced block labelled path=FILE, or a diff)")
    assert (project / "calc.py").read_text() == BUGGY  # the user's file never changed
    baseline = v.check()
    assert baseline.passed is False and baseline.extra["counts"] == {"failed": 1, "passed": 1}


def test_cot_answer_is_verified_with_events(project, fake):
    fake.enqueue(RIGHT)
    sink = ListSink()
    result = engine.run(Request("fix calc.py", verify=PYTEST), sink, backend=fake)
    [cand] = result.candidates
    assert cand.verdict.passed is True
    assert [e.sample for e in sink.of(VerifyStarted)] == [0]
    assert [e.verdict.detail for e in sink.of(VerifyDone)] == ["2 passed"]
    kinds = [type(e).__name__ for e in sink.events]
    assert kinds.index("VerifyStarted") < kinds.index("VerifyDone") < kinds.index("Final")


def test_best_of_n_stops_at_the_first_candidate_that_passes(project, fake):
    fake.enqueue(WRONG, RIGHT, RIGHT)
    result = engine.run(Request("fix calc.py", verify=PYTEST, strategy="best-of-n", samples=3), ListSink(), backend=fake)
    assert [c.verdict.passed for c in result.candidates] == [False, True]  # the third was never drawn
    assert result.chosen == 1 and result.answer == "use +"


def test_cli_exit_4_when_nothing_passes_and_the_answer_is_still_printed(project, scripted):
    scripted.enqueue(WRONG)
    r = invoke("fix calc.py", "--verify", PYTEST)
    assert r.exit_code == 4
    assert r.stdout == "multiply\n"
    assert "think: no candidate passed --verify (1 checked; the printed one: 1 passed, 1 failed: FAILED tests/test_calc.py::test_add" in r.stderr


def test_cli_exit_0_when_the_answer_passes(project, scripted):
    scripted.enqueue(RIGHT)
    r = invoke("fix calc.py", "--verify", PYTEST)
    assert (r.exit_code, r.stdout) == (0, "use +\n")


def test_json_reports_every_candidates_verdict(project, scripted):
    from thinkcli import config

    config.set_value("strategy", "best-of-n")
    scripted.enqueue(WRONG, RIGHT)
    r = invoke("fix calc.py", "--verify", PYTEST, "-n", "2", "--json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc["answer"] == "use +" and doc["chosen"] == 1
    assert [(v["index"], v["passed"], v["score"]) for v in doc["verdicts"]] == [(0, False, 0.5), (1, True, 1.0)]
    assert doc["verdicts"][0]["detail"].startswith("1 passed, 1 failed: FAILED tests/test_calc.py::test_add")
    assert [s["verdict"]["passed"] for s in doc["samples"]] == [False, True]


def test_piped_file_and_plain_code_reply(project, scripted):
    """`cat calc.py | think "fix the off-by-one" --verify ...`: the reply's lone code block
    replaces the file that was piped in."""
    scripted.enqueue(f"Here you go:\n```python\n{FIXED}```")
    r = invoke("fix the bug", "--verify", PYTEST, input=BUGGY)
    assert r.exit_code == 0, r.stderr
    assert "return a + b" in r.stdout
    assert "fix the bug" in scripted.calls[0].messages[-1]["content"] and BUGGY in scripted.calls[0].messages[-1]["content"]


def test_plain_answer_reaches_the_command_on_stdin_and_in_a_file(project, scripted):
    scripted.enqueue("Final answer: 42", "Final answer: 41")
    check = 'test "$(cat)" = 42 && test "$(cat "$THINK_ANSWER_FILE")" = 42'
    assert invoke("what is 6*7", "--verify", check).exit_code == 0
    assert invoke("what is 6*7", "--verify", check).exit_code == 4


def test_secrets_do_not_reach_the_command(project, scripted, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("CUSTOM_PROVIDER_CRED", "secret-too")
    from thinkcli import config

    config.set_value("providers.mine.api_key_env", "CUSTOM_PROVIDER_CRED")
    config.set_value("providers.mine.base_url", "http://127.0.0.1:9/v1")
    scripted.enqueue("Final answer: a", "Final answer: b")
    assert invoke("q", "--verify", 'test -z "$OPENAI_API_KEY" && test -z "$CUSTOM_PROVIDER_CRED"').exit_code == 0
    assert invoke("q", "--verify", 'test -n "$HOME"').exit_code == 0  # the rest of the environment is there


def test_timeout_is_a_failure_with_a_reason(project, scripted):
    scripted.enqueue("Final answer: 1")
    r = invoke("q", "--verify", "sleep 30", "--verify-timeout", "0.5")
    assert r.exit_code == 4 and "timed out after 0.5 s" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--verify", " "], "--verify needs a command"),
    (["--verify", "true", "--verify-timeout", "0"], "--verify-timeout"),
])
def test_bad_verify_flags_are_usage_errors(project, args, message):
    r = invoke("q", *args)
    assert r.exit_code == 2 and message in r.stderr and "Traceback" not in r.stderr


@pytest.mark.model
def test_embedded_model_pipeline_with_a_pipe(project, think, embedded_model):
    """The real model through the real CLI: whatever it writes is verified honestly."""
    r = think("fix the off-by-one", "--verify", PYTEST, "--max-tokens", "96", "--seed", "1", "--json",
              input=BUGGY, cwd=project)
    assert r.returncode in (0, 4), r.stderr
    doc = json.loads(r.stdout)
    [verdict] = doc["verdicts"]
    assert verdict["passed"] is (r.returncode == 0)
    assert (project / "calc.py").read_text() == BUGGY
    if r.returncode == 4:
        assert b"no candidate passed --verify" in r.stderr
