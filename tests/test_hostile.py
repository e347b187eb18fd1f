"""Hostile and clumsy input through the real CLI: links out of the verify copy, special files,
--patch onto precious paths. The model is the fault server on 127.0.0.1 replying with a
given text; git, the sandbox and the files are real, and checked byte for byte."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.faultserver import FaultServer
from tests.test_sandbox import git, snapshot


@pytest.fixture
def think():
    """The real CLI, with the scripted backend registered as fake: (tests/fakecli.py)."""
    import sys

    from tests.conftest import run_think

    def run(*args, **kw):
        if any(a == "fake:m" for a in args):
            env = {**(kw.pop("env", None) or {})}
            return subprocess.run([sys.executable, "-m", "tests.fakecli", *args], capture_output=True,
                                  env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                                  input=kw.get("input"), stdin=None if kw.get("input") else subprocess.DEVNULL,
                                  timeout=kw.get("timeout", 120), cwd=kw.get("cwd"))
        return run_think(*args, **kw)

    return run


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


def test_dash_f_on_a_directory_is_one_line(think, tmp_path):
    r = think("-f", str(tmp_path), "what is this?", timeout=30)
    assert r.returncode == 2 and "is a directory" in no_traceback(r)


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


@pytest.mark.parametrize("dest", ["calc.py", ".git/index", ".git/HEAD", "out", "./.git/../calc.py", "/dev/null",
                                  "test_calc.py"])
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


# -- settings, files and input that a tired user gets wrong ------------------------------


def one_error_line(proc, status: int = 2) -> str:
    err = no_traceback(proc)
    assert proc.returncode == status, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("think: error:"), err
    return lines[0]


def test_concurrent_config_and_keys_writers_lose_nothing(isolated_config):
    import sys

    loop = ("import subprocess, sys\n"
            "for i in range({n}):\n"
            "    subprocess.run([sys.executable, '-m', 'thinkcli', {args}], check=True, input={stdin!r}, capture_output=True)\n")
    codes = [loop.format(n=15, args=f"'config', 'set', f'aliases.w{w}_{{i}}', 'smollm2'", stdin=b"") for w in range(4)]
    codes += [loop.format(n=4, args=f"'keys', 'set', f'k{w}_{{i}}', '--base-url', 'http://127.0.0.1:9/v1'",
                          stdin=b"sk-test-key-123456\n") for w in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL) for code in codes]
    assert [p.wait(timeout=300) for p in procs] == [0] * 8  # every call succeeded...
    from thinkcli import config, keys

    assert len(config.read_file()["aliases"]) == 60  # ...and every write is still there
    assert len(keys.read_keys()) == 16


@pytest.mark.parametrize("where, key, value", [
    ("env", "SAMPLES", "0"), ("env", "TEMPERATURE", "nan"), ("env", "MAX_TOKENS", "-1"), ("env", "THREADS", "-4"),
    ("env", "SAMPLES", "300"), ("env", "TIME_LIMIT", "inf"), ("file", "samples", "0"), ("file", "temperature", "nan"),
    ("file", "max_tokens", "-1"), ("file", "threads", "-4"), ("file", "samples", "300"), ("flag", "--samples", "0"),
    ("flag", "--temperature", "nan"), ("flag", "--max-tokens", "-1"), ("flag", "--threads", "-4"),
    ("flag", "--samples", "300"), ("set", "samples", "0"), ("set", "temperature", "nan"), ("set", "read_timeout", "0"),
])
def test_numbers_are_range_checked_the_same_from_everywhere(think, isolated_config, where, key, value):
    if where == "env":
        r = think("hi", "-m", "fake:m", env={f"THINK_{key}": value})
    elif where == "file":
        (isolated_config / "config.toml").write_text(f"{key} = {value}\n")
        r = think("hi", "-m", "fake:m")
    elif where == "flag":
        r = think("hi", "-m", "fake:m", key, value)
    else:
        r = think("config", "set", key, value)
        assert not (isolated_config / "config.toml").exists()  # nothing half-set
    line = one_error_line(r)
    assert "must be" in line or "Invalid value" in line, line


def test_an_unwritable_config_dir_is_one_line(think, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory\n")
    env = {"THINK_CONFIG_DIR": str(blocker / "cfg")}
    one_error_line(think("config", "set", "samples", "3", env=env))
    one_error_line(think("keys", "set", "lab", "--base-url", "http://127.0.0.1:9/v1", input="sk-abcdefgh12345\n", env=env))


@pytest.mark.parametrize("damage", [b"this is not sqlite at all" * 100, b"SQLite format 3\x00" + b"\xff" * 5000])
def test_a_corrupt_history_database_is_one_line(think, tmp_path, damage):
    db = tmp_path / "h.db"
    db.write_bytes(damage)
    line = one_error_line(think("logs", env={"THINK_HISTORY_DB": str(db)}), status=1)
    assert "history database" in line
    assert db.read_bytes() == damage  # left for the user to inspect


@pytest.mark.parametrize("name", ["config.toml", "keys.toml", "prices.toml"])
def test_deeply_nested_toml_is_one_line(think, isolated_config, name):
    (isolated_config / name).write_text("a = " + "[" * 50_000 + "\n")
    r = think("config", "get") if name == "config.toml" else think("hi", "-m", "openai:x", "--base-url", "http://127.0.0.1:9/v1")
    one_error_line(r, status=2)


def test_nan_prices_are_refused(think, isolated_config):
    (isolated_config / "prices.toml").write_text('[models."gpt-4o-mini"]\ninput = nan\noutput = 0.6\n')
    line = one_error_line(think("hi", "-m", "openai:gpt-4o-mini", "--base-url", "http://127.0.0.1:9/v1", "--max-cost", "1"))
    assert "must be a number >= 0, got nan" in line


@pytest.mark.parametrize("key", [b"\xff\xfe-not-utf8\n", "sk-\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\n".encode(), b"sk-\x1b[2Jabcdef\n"])
def test_a_key_that_is_not_a_key_is_one_line(think, isolated_config, key):
    one_error_line(think("keys", "set", "lab", "--base-url", "http://127.0.0.1:9/v1", input=key))
    assert not (isolated_config / "keys.toml").exists()


@pytest.mark.parametrize("argv", [[b"caf\xe9 au lait?"], [b"hi", b"-s", b"caf\xe9"], [b"hi", b"-m", b"openai:caf\xe9"],
                                  [b"hi", b"--base-url", b"http://127.0.0.1:9/caf\xe9"], [b"hi", b"--verify", b"echo \xe9"]])
def test_an_argument_that_is_not_utf8_is_one_line(tmp_path, argv):
    import sys

    r = subprocess.run([sys.executable.encode(), b"-m", b"thinkcli", *argv], cwd=tmp_path,
                       capture_output=True, stdin=subprocess.DEVNULL, timeout=60)
    assert "not UTF-8" in one_error_line(r)


def test_a_link_into_git_is_not_a_way_in(think, server, tmp_path):
    root = tmp_path / "proj"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "gitlink").symlink_to(".git")
    (root / "a.txt").write_text("x\n")
    before = snapshot(root)
    reply = "```text path=gitlink/hooks/pre-commit\n#!/bin/sh\necho owned\n```\nFinal answer: done"
    r = think("hi", *remote(replying(server, reply), "--verify", "true", "--json"), cwd=root)
    no_traceback(r)
    assert r.returncode == 4 and b"leads into .git" in r.stdout
    assert snapshot(root) == before


@pytest.mark.parametrize("argv", [["--bogus"], ["-n", "abc", "hi"], ["config", "set", "samples"], ["fix", "--verify"],
                                  ["--effort", "extreme", "hi"], ["keys", "unset"], ["logs", "-n", "0"]])
def test_usage_errors_are_one_line_not_a_panel(think, argv):
    line = one_error_line(think(*argv))
    assert "╭" not in line and "Usage" not in line


def test_the_verify_env_drops_credentials_unless_passed_through(think, server, tmp_path, monkeypatch):
    secrets = {"AWS_SECRET_ACCESS_KEY": "aws-secret-value-1", "AWS_PROFILE": "prod", "DATABASE_URL": "postgres://u:pw@db/x",
               "GH_TOKEN": "ghp_" + "a" * 36, "MY_SERVICE_PASSWORD": "pw-1234567", "GOOGLE_APPLICATION_CREDENTIALS": "/k.json",
               "AZURE_CLIENT_SECRET": "azure-1234567", "UPSTREAM": "https://me:pw@example.com/x", "HARMLESS": "visible"}
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    cmd = "env > $THINK_ANSWER_FILE.env; cp $THINK_ANSWER_FILE.env " + str(tmp_path / "seen.env")
    r = think("hi", *remote(replying(server, "Final answer: 4"), "--verify", cmd, "--verify-env", "AWS_PROFILE"), cwd=tmp_path)
    assert r.returncode == 0, no_traceback(r)
    seen = (tmp_path / "seen.env").read_text()
    assert "HARMLESS=visible" in seen and "AWS_PROFILE=prod" in seen
    for k, v in secrets.items():
        if k not in ("HARMLESS", "AWS_PROFILE"):
            assert v not in seen, k


def test_flag_ranges_in_help_are_the_one_range_table():
    """The flags' own min/max (shown in --help) may only repeat config.RANGES, never differ."""
    import typer

    from thinkcli.cli import app
    from thinkcli.config import RANGES

    group = typer.main.get_command(app)
    checked = 0
    for name in ("ask", "fix", "bench"):
        for param in group.commands[name].params:
            low, high = getattr(param, "min", None), getattr(param, "max", None)
            if param.name in RANGES and (low is not None or high is not None):
                want_low, want_high = RANGES[param.name]
                assert low is None or low == want_low, (name, param.name, low, want_low)
                assert high is None or high == want_high, (name, param.name, high, want_high)
                checked += 1
    assert checked >= 10
