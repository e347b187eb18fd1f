"""`think fix` end to end in a real temporary git repository with a real failing pytest test.

The model is the scripted FakeBackend (in-process through ``run_fix`` and through the
CLI as ``-m fake:scripted``, the test suite's registered backend); the verify command, git, the
sandbox and pytest are all real. Work in the repository is checked byte for byte.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.test_sandbox import git
from thinkcli.cli import app
from thinkcli.errors import ExitStatus, UsageError
from thinkcli.events import ListSink, VerifyDone
from thinkcli.fix import FixOptions, run_fix
from thinkcli.verify.sandbox import group_alive

GOOD = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"
BUGGY = GOOD.replace("a + b", "a - b")
TESTS = ("from calc import add, mul\n\n\ndef test_add():\n    assert add(2, 3) == 5\n\n\n"
         "def test_mul():\n    assert mul(2, 3) == 6\n")
PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider tests"
RIGHT = f"The sign is wrong.\n```python path=calc.py\n{GOOD}```\nFinal answer: fixed"
WRONG_1 = f"```python path=calc.py\n{BUGGY.replace('a - b', 'a * b')}```\nFinal answer: fixed"
WRONG_2 = "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return b - a\n"
CHEAT = f"```python path=tests/test_calc.py\n{TESTS.replace('== 5', '== -1')}```"


def calc_project(root: Path) -> Path:
    """A new git repository (nothing committed) with the good calc.py, its tests and two other files."""
    (root / "tests").mkdir(parents=True)
    (root / "calc.py").write_text(GOOD)
    (root / "tests" / "test_calc.py").write_text(TESTS)
    (root / "conftest.py").write_text("")
    (root / "other.py").write_text("X = 1\n")
    (root / "notes.md").write_text("# notes\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "T")
    return root


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """A repository where calc.py's bug is staged, with other work staged and unstaged."""
    root = calc_project(tmp_path / "repo")
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    (root / "calc.py").write_text(BUGGY)
    (root / "other.py").write_text("X = 2  # staged elsewhere\n")
    git(root, "add", "calc.py", "other.py")
    (root / "other.py").write_text("X = 3  # unstaged on top of staged\n")
    (root / "notes.md").write_text("# notes\nunstaged work\n")
    (root / "scratch.txt").write_text("untracked\n")
    monkeypatch.chdir(root)
    return root


def state(root: Path) -> dict[str, str]:
    """The working tree (without .git) and the index, as hashes."""
    out = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
           for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts and "__pycache__" not in p.parts}
    out["<index>"] = git(root, "ls-files", "-s")
    return out


def fix(fake, files=("calc.py",), samples=2, **kw):
    out, err = io.StringIO(), io.StringIO()
    sink = ListSink()
    opts = FixOptions(list(files), kw.pop("verify", PYTEST), ask={"samples": samples}, **kw)
    status = run_fix(opts, backend=fake, sink=sink, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue(), sink


def pytest_passes(root: Path) -> bool:
    return subprocess.run(PYTEST.split(), cwd=root, capture_output=True).returncode == 0


def test_wrong_then_right_patch_writes_the_right_one(repo, fake):
    fake.enqueue(WRONG_1, RIGHT)
    before = state(repo)
    status, out, err, sink = fix(fake)
    assert status == ExitStatus.ERROR == 1  # pre-commit's "files were modified"
    assert (repo / "calc.py").read_text() == GOOD
    assert pytest_passes(repo)
    assert out == ("diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,5 +1,5 @@\n"
                   " def add(a, b):\n-    return a - b\n+    return a + b\n \n \n def mul(a, b):\n")
    assert "verified fix (candidate #2 of 2, 2 passed) written to calc.py" in err
    assert [e.verdict.passed for e in sink.of(VerifyDone)] == [False, True]
    after = state(repo)
    # only calc.py's working-tree text changed: the index (its staged bug included) did not
    assert {k for k in before if before[k] != after[k]} == {"calc.py"}
    assert git(repo, "show", ":calc.py") == BUGGY
    # the model saw the files and the failure
    prompt = fake.calls[0].messages[-1]["content"]
    assert "```python path=calc.py\n" + BUGGY.rstrip() in prompt and "assert -1 == 5" in prompt


def test_only_wrong_patches_exit_4_and_change_nothing(repo, fake):
    fake.enqueue(WRONG_1, WRONG_2, CHEAT)
    before = state(repo)
    status, out, err, _ = fix(fake, samples=3)
    assert status == ExitStatus.NO_PASS == 4
    assert out == ""
    assert "no verified fix among 3 candidate(s); nothing was changed" in err
    assert "#3: rejected: it changes tests/test_calc.py, which is not among the files being fixed" in err
    assert "FAILED tests/test_calc.py::test_add" in err  # the failure is shown
    assert state(repo) == before


def test_nothing_to_fix_when_the_command_already_passes(repo, fake):
    before = state(repo)
    status, out, err, _ = fix(fake, verify="true")
    assert (status, out) == (ExitStatus.SUCCESS, "") and "passes; nothing to fix" in err
    assert fake.calls == [] and state(repo) == before


def test_unstaged_hunk_in_the_same_file_survives_by_3_way_merge(repo, fake):
    # the staged version has the bug; the working tree adds an unrelated unstaged function
    (repo / "calc.py").write_text(BUGGY + "\n\ndef sub(a, b):\n    return a - b\n")
    fake.enqueue(RIGHT)
    status, _, err, _ = fix(fake, samples=1)
    assert status == 1, err
    assert (repo / "calc.py").read_text() == GOOD + "\n\ndef sub(a, b):\n    return a - b\n"
    assert git(repo, "show", ":calc.py") == BUGGY


def test_overlapping_unstaged_edit_refuses_and_writes_nothing(repo, fake):
    (repo / "calc.py").write_text(BUGGY.replace("return a - b", "return a - b  # why?"))
    fake.enqueue(RIGHT)
    before = state(repo)
    status, out, err, _ = fix(fake, samples=1)
    assert status == 1 and out.startswith("diff --git a/calc.py")
    assert "not written: calc.py has unstaged edits that overlap the fix" in err
    assert state(repo) == before


def test_dry_run_and_patch_file_change_no_file(repo, fake, tmp_path):
    fake.enqueue(RIGHT, RIGHT)
    before = state(repo)
    status, out, err, _ = fix(fake, samples=1, dry_run=True)
    assert status == 1 and "+    return a + b" in out and "--dry-run" in err
    assert state(repo) == before
    patch = tmp_path / "fix.diff"
    status, out, _, _ = fix(fake, samples=1, patch_file=str(patch))
    assert status == 1 and patch.read_text() == out
    assert state(repo) == before
    git(repo, "apply", "--check", str(patch))  # the patch is what git applies


def test_verify_command_crash_is_a_failed_candidate(repo, fake):
    (repo / "check.sh").write_text(f"{PYTEST} || kill -KILL $$\n")
    fake.enqueue(WRONG_1)
    before = state(repo)
    status, _, err, _ = fix(fake, samples=1, verify="sh check.sh")
    assert status == 4 and "#1: killed by signal 9; 1 passed, 1 failed: FAILED" in err
    assert state(repo) == before


def test_pre_commit_mode_fixes_the_staged_version(repo, fake, monkeypatch):
    """Under PRE_COMMIT=1 the index is what is verified and fixed, even for an unstaged file."""
    monkeypatch.setenv("PRE_COMMIT", "1")
    git(repo, "reset", "-q", "calc.py")  # unstaged: index = HEAD (good), working tree buggy
    fake.enqueue(RIGHT)
    status, _, err, _ = fix(fake, samples=1)
    assert status == 0 and "nothing to fix" in err and fake.calls == []


def test_pre_commit_mode_checks_what_is_being_committed(repo, fake, monkeypatch):
    """With PRE_COMMIT=1 unstaged edits of other tracked files are not in the sandbox."""
    (repo / "calc.py").write_text(GOOD)
    git(repo, "add", "calc.py")
    (repo / "tests" / "test_calc.py").write_text(TESTS.replace("== 5", "== 4"))  # unstaged, breaks the test
    monkeypatch.setenv("PRE_COMMIT", "1")
    status, _, err, _ = fix(fake, samples=1)
    assert status == 0 and "nothing to fix" in err
    monkeypatch.delenv("PRE_COMMIT")
    fake.enqueue(RIGHT)
    status, _, err, _ = fix(fake, samples=1)  # the working tree's test is used now, and fails
    assert status == 4 and "#1: rejected: its files are the same as the current ones" in err


@pytest.mark.parametrize("marker, what", [
    ("MERGE_HEAD", "a merge"), ("CHERRY_PICK_HEAD", "a cherry-pick"),
    ("rebase-merge/", "a rebase"), ("rebase-apply/", "a rebase or `git am`"),
])
def test_refuses_during_merge_rebase_cherry_pick(repo, fake, marker, what):
    path = repo / ".git" / marker.rstrip("/")
    path.mkdir() if marker.endswith("/") else path.write_text("0" * 40 + "\n")
    with pytest.raises(UsageError, match=f"{what} is in progress"):
        fix(fake)
    assert fake.calls == []


def test_cli_fix_exit_codes_and_diff_on_stdout(repo, scripted):
    scripted.enqueue(WRONG_1, RIGHT)
    r = CliRunner().invoke(app, ["fix", "-m", "fake:scripted", "calc.py", "--verify", PYTEST, "-n", "2"], catch_exceptions=False)
    assert r.exit_code == 1, r.stderr
    assert r.stdout.startswith("diff --git a/calc.py b/calc.py") and (repo / "calc.py").read_text() == GOOD
    scripted.enqueue(WRONG_1)
    (repo / "calc.py").write_text(BUGGY)
    r = CliRunner().invoke(app, ["fix", "-m", "fake:scripted", "calc.py", "--verify", PYTEST, "-n", "1"], catch_exceptions=False)
    assert r.exit_code == 4 and r.stdout == ""


@pytest.mark.parametrize("args, message", [
    (["fix", "calc.py"], "think fix needs --verify CMD"),
    (["fix", "missing.py", "--verify", "false"], "no such file: missing.py"),
    (["fix", "../outside.py", "--verify", "false"], "is outside the project"),
    (["fix", "tests", "--verify", "false"], "tests is a directory"),
    (["fix", "calc.py", "--verify", "false", "--strategy", "nope"], "unknown strategy 'nope'"),
])
def test_cli_fix_usage_errors(repo, args, message):
    r = CliRunner().invoke(app, args, catch_exceptions=False)
    assert r.exit_code == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_no_files_means_the_changed_files(repo, scripted):
    scripted.enqueue(RIGHT)
    r = CliRunner().invoke(app, ["fix", "-m", "fake:scripted", "--verify", PYTEST, "-n", "1"], catch_exceptions=False)
    # calc.py, other.py and notes.md changed; the model got all three and fixed calc.py
    prompt = scripted.calls[0].messages[-1]["content"]
    assert all(f"path={p}" in prompt for p in ("calc.py", "other.py", "notes.md"))
    assert r.exit_code == 1 and (repo / "calc.py").read_text() == GOOD


def test_ctrl_c_during_verification_leaves_everything_and_no_process(repo, tmp_path, think):
    """A real `think fix` process interrupted while the verify command runs."""
    mark = tmp_path / "started"
    private = tmp_path / "tmpdir"
    private.mkdir()
    before = state(repo)
    env = {**os.environ, "TMPDIR": str(private)}
    env.pop("PRE_COMMIT", None)
    proc = subprocess.Popen([sys.executable, "-m", "thinkcli", "fix", "calc.py", "--verify",
                             f"echo $$ > {mark}; sleep 60"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for _ in range(600):
        if mark.exists() and mark.read_text().strip():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"interrupted" in err and b"Traceback" not in err
    assert not group_alive(int(mark.read_text()))
    assert list(private.iterdir()) == []
    assert state(repo) == before


def test_what_to_fix_must_be_clear(tmp_path, monkeypatch, fake):
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "img.bin").write_bytes(b"\x89PNG\0\0")
    monkeypatch.chdir(plain)
    with pytest.raises(UsageError, match="no files to fix; name them"):
        fix(fake, files=())
    with pytest.raises(UsageError, match="img.bin is binary"):
        fix(fake, files=("img.bin",))
    clean = tmp_path / "clean"
    clean.mkdir()
    git(clean, "init", "-q")
    monkeypatch.chdir(clean)
    with pytest.raises(UsageError, match="no changed files to fix"):
        fix(fake, files=())
    assert fake.calls == []
