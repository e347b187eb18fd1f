"""Hostile and clumsy input through the real CLI: links out of the verify copy, special files,
--patch onto precious paths. The model is the fault server on 127.0.0.1 replying with a
given text; git, the sandbox and the files are real, and checked byte for byte."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.faultserver import FaultServer
from tests.test_sandbox import git, snapshot


@pytest.fixture(autouse=True)
def no_host_keys(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server():
    srv = FaultServer().start()
    yield srv
    srv.stop()


def replying(srv: FaultServer, text: str) -> FaultServer:
    srv.reply = text
    return srv


def remote(srv: FaultServer, *args: str) -> tuple[str, ...]:
    return ("-m", "openai:fault-model", "--base-url", srv.url, "--max-tokens", "400", *args)


def fixing(srv: FaultServer, reply: str, *args: str) -> dict:
    """`think fix` arguments (it has no --base-url: the server comes from THINK_BASE_URL)."""
    srv.reply = reply
    return {"args": ("-m", "openai:fault-model", "--max-tokens", "400", *args), "env": {"THINK_BASE_URL": srv.url}}


def no_traceback(proc) -> str:
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err and "unexpected" not in err, err
    return err


@pytest.fixture
def chain_repo(tmp_path) -> Path:
    """A repository with the committed chain d -> ., e -> d/.., f -> e/.., g -> f/.. (g is /)."""
    root = tmp_path / "deep" / "er" / "repo"
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("hello\n")
    for name, target in (("d", "."), ("e", "d/.."), ("f", "e/.."), ("g", "f/.."), ("up", "d/../repo/a.txt")):
        (root / name).symlink_to(target)
    (root / "inner").symlink_to("a.txt")  # a plain link inside stays usable
    git(root, "add", ".")
    git(root, "-c", "user.email=t@e", "-c", "user.name=T", "commit", "-qm", "links")
    return root


def test_a_link_chain_never_reaches_outside_the_copy(think, server, chain_repo, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    before = snapshot(tmp_path)
    for target in ("g/victim/planted.txt", "f/planted.txt", "e/planted.txt", "g/deep/er/planted.txt"):
        reply = f"```text path={target}\nowned\n```\nFinal answer: done"
        cmd = "cat inner; ls -a; echo x > d/../escape.txt; echo x > g/escape.txt"
        r = think("hi", *remote(replying(server, reply), "--json", "--verify", cmd), cwd=chain_repo)
        no_traceback(r)
        assert r.returncode == 4, r.stdout.decode()[:900]
        assert b"leads out of the project through a symbolic link" in r.stdout
    assert not (victim / "planted.txt").exists() and not list(tmp_path.rglob("planted.txt"))
    assert not list(tmp_path.rglob("escape.txt"))
    assert snapshot(tmp_path) == before


def test_the_copy_keeps_inside_links_and_drops_the_ones_to_its_root(think, server, chain_repo):
    reply = "```text path=new.txt\nfresh\n```\nFinal answer: done"
    cmd = 'test "$(cat inner)" = hello && test ! -e d && test ! -e g && test "$(cat new.txt)" = fresh'
    r = think("hi", *remote(replying(server, reply), "--verify", cmd), cwd=chain_repo)
    err = no_traceback(r)
    assert r.returncode == 0, err
    assert "leaves out" in err and "d (a link to a directory" in err  # said, not silent


def test_a_diff_through_a_link_cannot_read_outside(think, server, chain_repo):
    reply = "--- a/g/etc/hostname\n+++ b/g/etc/hostname\n@@ -1 +1 @@\n-x\n+y\n"
    r = think("hi", *remote(replying(server, reply), "--verify", "true", "--json"), cwd=chain_repo)
    no_traceback(r)
    assert r.returncode == 4
    assert b"leads out of the project" in r.stdout


@pytest.mark.parametrize("in_git", [True, False])
def test_special_files_in_the_project_are_left_out_and_never_read(think, server, tmp_path, in_git):
    root = tmp_path / "proj"
    root.mkdir()
    (root / "main.py").write_text("print('hi')\n")
    (root / "zero").symlink_to("/dev/zero")
    os.mkfifo(root / "pipe")
    if in_git:  # git never lists the FIFO; the committed link to a device is still left out
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "main.py", "zero")
    reply = "Here it is:\n```python\nprint('hello there, world')\n```\nFinal answer: ok"
    r = think(*remote(replying(server, reply), "--verify", "test ! -e zero && test ! -e pipe"),
              input="print('hi')  # some piped code long enough\n", cwd=root, timeout=60)
    err = no_traceback(r)
    assert r.returncode == 0, err
    assert "zero (a link to a FIFO, socket or device)" in err
    assert in_git or "pipe (a FIFO, socket or device)" in err


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "link-to-zero"])
def test_dash_f_reads_only_regular_files(think, tmp_path, special):
    path = {"/dev/zero": "/dev/zero", "fifo": str(tmp_path / "fifo"), "link-to-zero": str(tmp_path / "z")}[special]
    if special == "fifo":
        os.mkfifo(path)
    elif special == "link-to-zero":
        os.symlink("/dev/zero", path)
    r = think("-f", path, "what is this?", timeout=30)
    err = no_traceback(r)
    assert r.returncode == 2
    assert err.startswith("think: error:") and "not a regular file" in err and len(err.strip().splitlines()) == 1


def test_dash_f_refuses_a_file_past_the_size_limit(think, tmp_path):
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(17 << 20)  # sparse: costs no disk
    r = think("-f", str(big), "summarise", timeout=30)
    assert r.returncode == 2 and "larger than 16 MiB" in no_traceback(r)


# -- think fix --patch -------------------------------------------------------------------

GOOD = "def add(a, b):\n    return a + b\n"
TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"
FIX = f"```python path=calc.py\n{GOOD}```\nFinal answer: fixed"


@pytest.fixture
def buggy(tmp_path) -> Path:
    root = tmp_path / "fixme"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "calc.py").write_text(GOOD.replace("a + b", "a - b"))
    (root / "test_calc.py").write_text(TEST)
    git(root, "add", ".")
    git(root, "-c", "user.email=t@e", "-c", "user.name=T", "commit", "-qm", "bug")
    (root / "calc.py").write_text(GOOD.replace("a + b", "a - b") + "# my unstaged edit\n")
    (root / "out").mkdir()
    return root


VERIFY = "python -m pytest -q -p no:cacheprovider test_calc.py"


@pytest.mark.parametrize("dest", ["calc.py", ".git/index", ".git/HEAD", "out", "./.git/../calc.py", "/dev/null"])
def test_fix_patch_refuses_precious_paths(think, server, buggy, dest):
    before = snapshot(buggy)
    run = fixing(server, FIX, "--patch", dest)
    r = think("fix", "calc.py", "--verify", VERIFY, *run["args"], env=run["env"], cwd=buggy)
    err = no_traceback(r)
    assert r.returncode == 2, err
    assert err.startswith("think: error: --patch") and len(err.strip().splitlines()) == 1
    assert snapshot(buggy) == before
    assert not server.completion_requests()  # refused before the model was asked


def test_fix_patch_through_a_link_writes_the_target_atomically(think, server, buggy):
    (buggy / "fix.patch").symlink_to("out/real.patch")
    before = (buggy / "calc.py").read_bytes()
    run = fixing(server, FIX, "--patch", "fix.patch")
    r = think("fix", "calc.py", "--verify", VERIFY, *run["args"], env=run["env"], cwd=buggy)
    assert r.returncode == 1, no_traceback(r)
    assert (buggy / "fix.patch").is_symlink()  # the link stays; its target holds the diff
    assert "+    return a + b" in (buggy / "out" / "real.patch").read_text()
    assert (buggy / "calc.py").read_bytes() == before
    applied = subprocess.run(["git", "apply", "--check", "out/real.patch"], cwd=buggy, capture_output=True)
    assert applied.returncode == 0, applied.stderr


def test_fix_keeps_crlf_line_endings(think, server, tmp_path):
    root = tmp_path / "crlf"
    root.mkdir()
    (root / "calc.py").write_bytes(b"def add(a, b):\r\n    return a - b\r\n\r\n\r\nX = 1\r\n")
    (root / "test_calc.py").write_text(TEST)
    diff = "--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,3 @@\n def add(a, b):\n-    return a - b\n+    # fixed\n+    return a + b\n"
    run = fixing(server, diff)
    r = think("fix", "calc.py", "--verify", VERIFY, *run["args"], env=run["env"], cwd=root)
    assert r.returncode == 1, no_traceback(r)
    data = (root / "calc.py").read_bytes()
    assert data == b"def add(a, b):\r\n    # fixed\r\n    return a + b\r\n\r\n\r\nX = 1\r\n"
