"""The verify sandbox with real commands in a real temporary git repository."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from thinkcli.verify.sandbox import Sandbox, group_alive


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "src").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "T")
    (root / "src" / "calc.py").write_text("def add(a, b):\n    return a + b\n")
    (root / "README").write_text("readme\n")
    (root / ".gitignore").write_text("*.log\nbuild/\n")
    git(root, "add", ".")
    git(root, "commit", "-qm", "init")
    (root / "notes.txt").write_text("untracked but not ignored\n")
    (root / "debug.log").write_text("ignored\n")
    (root / "build").mkdir()
    (root / "build" / "out.bin").write_text("ignored too\n")
    return root


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Sandboxes go here, so a test can see that none is left behind."""
    where = tmp_path / "tmp"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    return where


def snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """Every file under root (the .git dir included) with its hash, mode and mtime."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            out[str(path.relative_to(root))] = (hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mode, st.st_mtime_ns)
    return out


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


HOSTILE = r"""
echo "PGID=$$"
sleep 300 & echo "CHILD=$!"
ls -a
echo overwritten > README
echo appended >> src/calc.py
rm -f notes.txt
mkdir -p new && echo x > new/file
git add -A 2>/dev/null; git commit -qm evil 2>/dev/null
env
sleep 300
"""


def test_hostile_command_leaves_the_users_tree_and_index_untouched(repo, private_tmp, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret-1")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-very-secret-2")
    monkeypatch.setenv("DB_PASSWORD", "very-secret-3")
    monkeypatch.setenv("MY_PROVIDER_KEY", "very-secret-4")  # a configured api_key_env name
    monkeypatch.setenv("GIT_INDEX_FILE", str(repo / ".git" / "index"))
    monkeypatch.setenv("HARMLESS_SETTING", "visible")
    before = snapshot(repo)
    result = Sandbox(repo, extra_secrets=["MY_PROVIDER_KEY"]).run(HOSTILE, timeout=1.5)

    assert result.timed_out and result.exit_code is None and not result.passed
    assert "[killed after 1.5 s]" in result.output
    assert snapshot(repo) == before  # not a byte, mode or mtime changed, .git/index included
    assert "very-secret" not in result.output
    assert "HARMLESS_SETTING=visible" in result.output
    assert "GIT_INDEX_FILE" not in result.output
    assert re.search(r"THINK_ANSWER_FILE=\S+answer.txt", result.output)
    # what the copy held: tracked and untracked-unignored files, no ignored ones, no .git
    listing = set(result.output.split())
    assert {"README", "src", "notes.txt", ".gitignore"} <= listing
    assert not {"debug.log", "build", ".git"} & listing
    pgid = int(re.search(r"PGID=(\d+)", result.output).group(1))
    child = int(re.search(r"CHILD=(\d+)", result.output).group(1))
    assert not group_alive(pgid)
    assert not running(child)
    assert list(private_tmp.iterdir()) == []  # the copy is gone


def test_background_child_of_a_finished_command_is_killed(repo, private_tmp):
    result = Sandbox(repo).run('sleep 300 & echo "CHILD=$! PGID=$$"', timeout=30)
    assert result.passed and result.exit_code == 0
    pgid = int(re.search(r"PGID=(\d+)", result.output).group(1))
    assert not group_alive(pgid)


def test_copies_are_not_hard_links_and_writes_stay_in_the_copy(repo, private_tmp):
    inode = (repo / "src" / "calc.py").stat().st_ino
    result = Sandbox(repo).run("stat -c %i src/calc.py; printf 'x' >> src/calc.py; cat src/calc.py", timeout=30)
    assert result.passed
    assert int(result.output.split()[0]) != inode
    assert result.output.endswith("return a + b\nx")
    assert (repo / "src" / "calc.py").read_text() == "def add(a, b):\n    return a + b\n"


def test_symlink_out_of_the_project_is_copied_as_content(repo, tmp_path, private_tmp):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    (repo / "link.txt").symlink_to(outside)
    (repo / "inner").symlink_to("src")  # a link inside the project stays a link
    result = Sandbox(repo).run("echo clobbered > link.txt; cat link.txt; cat inner/calc.py", timeout=30)
    assert result.passed and "clobbered" in result.output and "return a + b" in result.output
    assert outside.read_text() == "precious\n"


def test_changes_overlays_answer_file_and_stdin(repo, private_tmp):
    box = Sandbox(repo, overlays={"src/calc.py": b"def add(a, b):\n    return a - b\n"})
    cmd = 'cat src/calc.py; test ! -e README && echo "README gone"; cat "$THINK_ANSWER_FILE"; echo; cat'
    result = box.run(cmd, changes={"README": None, "src/new.py": b"NEW = 1\n"}, answer="forty-two", timeout=30)
    assert result.passed
    assert "return a - b" in result.output and "README gone" in result.output
    assert result.output.count("forty-two") == 2  # once from the file, once from stdin
    assert box.run("cat src/new.py", timeout=30).exit_code == 1  # changes belong to one run only


def test_runs_in_the_matching_subdirectory_and_reports_exit_codes(repo, private_tmp):
    result = Sandbox(repo / "src").run("ls; exit 3", timeout=30)
    assert result.exit_code == 3 and not result.passed
    assert result.output.split() == ["calc.py"]


def test_outside_git_the_current_directory_is_copied(tmp_path, private_tmp):
    plain = tmp_path / "plain"
    (plain / "pkg").mkdir(parents=True)
    (plain / "pkg" / "a.py").write_text("A = 1\n")
    (plain / "__pycache__").mkdir()
    (plain / "__pycache__" / "junk.pyc").write_bytes(b"\0")
    box = Sandbox(plain)
    assert not box.in_git and box.files == ["pkg/a.py"]
    result = box.run("rm -rf pkg; find . -type f", timeout=30)
    assert result.passed and (plain / "pkg" / "a.py").read_text() == "A = 1\n"


def test_long_output_keeps_head_and_tail(repo, private_tmp):
    result = Sandbox(repo).run("echo FIRST; head -c 2000000 /dev/zero | tr '\\0' 'y'; echo; echo LAST", timeout=60)
    assert result.truncated
    assert result.output.startswith("FIRST") and result.output.rstrip().endswith("LAST")
    assert "bytes cut" in result.output and len(result.output) < 20000


def test_ctrl_c_during_a_run_kills_the_group_and_removes_the_copy(repo, private_tmp):
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    pid_file = repo.parent / "pid"
    try:
        with pytest.raises(KeyboardInterrupt):
            Sandbox(repo).run(f"echo $$ > {pid_file}; sleep 300", timeout=120)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert not group_alive(int(pid_file.read_text()))
    assert list(private_tmp.iterdir()) == []


def test_path_escaping_the_project_is_refused(repo):
    from thinkcli.errors import UsageError

    with pytest.raises(UsageError, match="leaves the project"):
        Sandbox(repo).run("true", changes={"../evil": b"x"})
    with pytest.raises(UsageError, match="inside .git"):
        Sandbox(repo).run("true", changes={".git/hooks/pre-commit": b"x"})
    assert os.listdir(repo.parent) == ["repo"]


def test_a_huge_directory_outside_git_is_refused(tmp_path, monkeypatch):
    from thinkcli.errors import UsageError
    from thinkcli.verify import sandbox

    monkeypatch.setattr(sandbox, "MAX_PLAIN_FILES", 5)
    for i in range(7):
        (tmp_path / f"f{i}.txt").write_text("x")
    with pytest.raises(UsageError, match="holds more than 5 files"):
        Sandbox(tmp_path)
