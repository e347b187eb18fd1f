"""A hostile and clumsy user, scripted: well over 100 probes through the real `think` CLI.

    python scripts/hostile_probe.py [--quick] [--verbose]

Every probe is a real `think` process (the program itself, or `tests/fakecli.py`, the same
program with the scripted backend registered as `fake:`), against real files, a real git
repository and the test suite's fault server on 127.0.0.1. It counts:

- tracebacks: a Python traceback, an "unexpected" internal error line, a hang past the
  probe's time limit, or an exit status outside 0-4 / 128+N;
- data-loss cases: a byte, mode or file changed where the probe must leave things alone
  (the user's project, a victim directory outside it, the git index, config entries);
- secret leaks: any of the planted keys in stdout, stderr, the history database, a
  written patch, or the environment a --verify command saw.

Prints one line per probe with --verbose, and a summary; exits 1 unless the last three
counts are 0. Nothing outside its own temporary directory is touched.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.faultserver import FaultServer  # noqa: E402

KEYS = {  # planted where a careless program would leak them
    "OPENAI_API_KEY": "sk-probe-openai-0123456789abcdef",
    "AWS_SECRET_ACCESS_KEY": "aws-probe-secret-9876543210fedcba",
    "DATABASE_URL": "postgres://probe:pw-probe-db-5555@db.example/x",
    "GH_TOKEN": "ghp_probeprobeprobeprobeprobeprobe1234",
}
STORED_KEY = "sk-probe-stored-abcdefabcdef0123"
SECRETS = [*KEYS.values(), STORED_KEY, "pw-probe-db-5555"]
NUMBER_FLAGS = ["--samples", "--max-tokens", "--temperature", "--seed", "--confidence", "--rounds", "--beam-width",
                "--think-min", "--think-max", "--max-total-tokens", "--time-limit", "--max-cost", "--verify-timeout",
                "--threads", "--parallel", "--max-retries"]
BAD_NUMBERS = ["0", "-1", "nan", "inf", "1e309", "abc", "", "300"]
NUMBER_KEYS = ["samples", "max_tokens", "temperature", "threads", "parallel", "max_retries", "read_timeout",
               "time_limit", "verify_timeout", "seed"]


@dataclass
class Tally:
    probes: int = 0
    tracebacks: list[str] = field(default_factory=list)
    data_loss: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    verbose: bool = False


def tree(path: Path) -> dict[str, str]:
    """Every entry under ``path`` with its content hash (links by their text, FIFOs by kind)."""
    out = {}
    if not path.exists():
        return out
    for p in sorted(path.rglob("*")):
        rel = str(p.relative_to(path))
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_file():
            st = p.stat()
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest() + f":{st.st_mode:o}"
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = "special"
    return out


class Prober:
    def __init__(self, work: Path, tally: Tally) -> None:
        self.work = work
        self.tally = tally
        self.cfg = work / "cfg"
        self.cfg.mkdir()
        self.history = work / "history.db"
        self.server = FaultServer().start()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("THINK_", "OPENAI_"))}
        self.env.update(KEYS)
        self.env.update({"THINK_CONFIG_DIR": str(self.cfg), "THINK_HISTORY_DB": str(self.history),
                         "THINK_MODELS_DIR": str(work / "models"), "PYTHONPATH": str(ROOT), "TMPDIR": str(work / "tmp"),
                         "NO_COLOR": "1"})
        (work / "tmp").mkdir()
        self.run(["keys", "set", "probe", "--base-url", self.server.url], input=STORED_KEY.encode() + b"\n",
                 name="setup: store a key for the fault server")

    def close(self) -> None:
        self.server.stop()

    # -- one probe -----------------------------------------------------------------------

    def run(self, args: list, *, name: str, fake: bool = False, input: bytes | None = None, env: dict | None = None,
            cwd: Path | None = None, timeout: float = 90, ok: tuple[int, ...] = (0, 1, 2, 3, 4),
            watch: list[Path] = (), must_change: list[Path] = ()) -> subprocess.CompletedProcess | None:
        self.tally.probes += 1
        before = {p: tree(p) for p in watch}
        program = [sys.executable, "-m", "tests.fakecli" if fake else "thinkcli"]
        try:
            proc = subprocess.run([*program, *args], input=input, stdin=None if input is not None else subprocess.DEVNULL,
                                  capture_output=True, env={**self.env, **(env or {})}, cwd=cwd or self.work,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            self.tally.tracebacks.append(f"{name}: still running after {timeout:g} s")
            return None
        self.check(name, proc, ok)
        for p in watch:
            if p not in must_change and tree(p) != before[p]:
                self.tally.data_loss.append(f"{name}: {p} changed")
        return proc

    def check(self, name: str, proc, ok: tuple[int, ...]) -> None:
        err = proc.stderr.decode("utf-8", "replace")
        if "Traceback" in err or "think: error: unexpected" in err or proc.returncode not in ok:
            self.tally.tracebacks.append(f"{name}: exit {proc.returncode}: {err.strip()[-300:]}")
        blob = proc.stdout + proc.stderr
        if self.history.exists():
            blob += self.history.read_bytes()
        for secret in SECRETS:
            if secret.encode() in blob:
                self.tally.leaks.append(f"{name}: {secret[:12]}... in output or history")
        if self.tally.verbose:
            first = (err.strip().splitlines() or [""])[-1][:110]
            print(f"[{self.tally.probes:3}] exit {proc.returncode:3} {name}: {first}")

    def remote(self, *args: str) -> list[str]:
        return ["-m", "openai:fault-model", "--base-url", self.server.url, "--max-tokens", "64", *args]

    def serve(self, reply: str | None = None, mode: dict | None = None) -> None:
        self.server.reply = reply if reply is not None else "Two plus two makes four.\nFinal answer: 4"
        self.server.faults.clear()
        self.server.fault_when = (lambda body: dict(mode)) if mode else None


# -- the probes ---------------------------------------------------------------------------


def flags_and_settings(p: Prober, quick: bool) -> None:
    for flag in NUMBER_FLAGS[: 6 if quick else None]:
        for value in BAD_NUMBERS:
            p.run(["hi", "-m", "fake:m", flag, value], fake=True, name=f"flag {flag} {value!r}")
    for key in NUMBER_KEYS:
        for value in ("0", "-4", "nan", "300", "1e999"):
            p.run(["hi", "-m", "fake:m"], fake=True, env={f"THINK_{key.upper()}": value}, name=f"THINK_{key.upper()}={value}")
    for key, value in [("samples", "0"), ("temperature", "nan"), ("max_tokens", "-1"), ("threads", "-4"),
                       ("samples", "300"), ("effort", "extreme"), ("bogus", "1"), ("aliases.", "x"),
                       ("providers.x.api_key", "k"), ("verify_env", "NOT A NAME")]:
        p.run(["config", "set", key, value], name=f"config set {key} {value!r}", watch=[p.cfg])
    for text in ["samples = nan", "temperature = inf", "samples = 0", "threads = -4", "samples = 'x'",
                 "aliases = 3", "providers = {x = 1}", "a = " + "[" * 20000, "\xff\xfe garbage", "model = [1, 2]"]:
        (p.cfg / "config.toml").write_bytes(text.encode("utf-8", "surrogateescape"))
        p.run(["hi", "-m", "fake:m"], fake=True, name=f"config file {text[:24]!r}")
    (p.cfg / "config.toml").unlink()
    for argv in (["--bogus"], ["-n"], ["--effort", "extreme", "hi"], ["config"], ["config", "set", "samples"],
                 ["keys", "unset"], ["logs", "-n", "0"], ["fix", "--verify"], ["--strategy", "nope", "hi"], ["bench"]):
        p.run(argv, name=f"usage {' '.join(argv)}")


def inputs(p: Prober) -> None:
    fifo = p.work / "fifo"
    os.mkfifo(fifo)
    (p.work / "zero-link").symlink_to("/dev/zero")
    (p.work / "binary.bin").write_bytes(b"\x89PNG\x00\x00")
    (p.work / "latin1.txt").write_bytes(b"caf\xe9\n")
    sparse = p.work / "sparse.txt"
    with open(sparse, "wb") as f:
        f.truncate(64 << 20)
    for path in ["/dev/zero", "/dev/urandom", str(fifo), str(p.work / "zero-link"), str(p.work), "/nonexistent",
                 str(p.work / "binary.bin"), str(p.work / "latin1.txt"), str(sparse), "/proc/self/mem", "/etc/shadow"]:
        p.run(["-m", "fake:m", "-f", path, "what is this?"], fake=True, name=f"-f {path}", timeout=30)
    p.run(["-m", "fake:m", "hi"], fake=True, input=b"\xff\xfe\x00binary", name="binary stdin")
    p.run(["-m", "fake:m"], fake=True, input=b"", name="empty stdin, no prompt")
    p.run(["-m", "fake:m", "-f", "-"], fake=True, input=b"x" * (17 << 20), name="17 MiB on stdin")
    for argv in ([b"caf\xe9?"], ["hi", "-s", b"caf\xe9"], ["hi", "--verify", b"echo \xe9"], ["hi", "-f", b"\xe9.txt"],
                 ["hi", "--verify-env", b"A\xe9"], ["hi", "--base-url", b"http://127.0.0.1:9/\xe9"]):
        p.run([*argv, "-m", "fake:m"], fake=True, name=f"non-UTF-8 argument {argv[-1]!r}")
    p.run(["hi", "-m", b"openai:caf\xe9"], name="non-UTF-8 model name")
    p.run(["-m", "fake:m", "hi", "--verify-env", "NOT A NAME"], fake=True, name="--verify-env with a bad name")
    for reply in ["Final answer: [/]", "[bold red]x[/] [link=file:///etc/passwd]y[/link]",
                  "\x1b]52;c;ZXZpbA==\x07\x1b]0;pwned\x07\x1b[2J\x1b[3J\rFinal answer: 4", "\x01\x07\x08\x7f" * 10]:
        p.run(["-m", "fake:m", "hi"], fake=True, env={"THINK_FAKE_REPLY": reply}, name=f"model says {reply[:18]!r}")
        p.run(["-m", "fake:m", "hi", "-n", "3", "--strategy", "vote"], fake=True, env={"THINK_FAKE_REPLY": reply},
              name=f"vote over {reply[:18]!r}")


def remote(p: Prober) -> None:
    for mode in [{"hang": True}, {"keepalive": True}]:
        p.serve(mode=mode)
        p.run(p.remote("hi", "--time-limit", "2", "--max-retries", "0"), name=f"server {mode} with --time-limit 2", timeout=40)
    p.serve(mode={"keepalive": True})
    p.run(p.remote("hi", "--max-retries", "0"), env={"THINK_READ_TIMEOUT": "1"}, name="keep-alive forever, no limit",
          timeout=40)
    p.serve(mode={"endless": True})
    p.run(p.remote("hi"), name="endless stream ignoring max_tokens", timeout=60)
    p.run(p.remote("hi", "-n", "3", "--strategy", "vote"), name="endless stream, 3 samples", timeout=60)
    for mode in [{"drop": True}, {"cut": True}, {"malformed": True}, {"empty": True}, {"stream_error": True},
                 {"echo_auth": 401}, {"echo_auth": 400}, {"echo_key": True}, {"status": 400}, {"status": 404},
                 {"status": 403}, {"status": 500, "body": {"error": {"message": KEYS["OPENAI_API_KEY"]}}}]:
        p.serve(mode=mode)
        p.run(p.remote("hi", "--max-retries", "1"), name=f"server {mode}", timeout=60)
    for value in ["Wed, 21 Oct 2015 07:28:10 GMT", "soon", "-5", "nan", "inf", "99999999999"]:
        p.serve()
        p.server.faults.append({"status": 429, "retry_after": value})
        p.run(p.remote("hi", "--max-retries", "1"), name=f"429 Retry-After {value!r}", timeout=60)
    p.serve(mode={"echo_key": True})
    p.run(p.remote("hi", "--json"), name="echoed key in --json")
    p.run(["logs"], name="think logs after echoed keys")
    p.run(["logs", "--json"], name="think logs --json after echoed keys")
    p.serve(reply="\x1b]52;c;ZXZpbA==\x07[/]Final answer: 4")
    p.run(p.remote("hi"), name="escape sequences from a real server")
    # OPENAI_API_KEY must not go to a configured providers.openai.base_url
    p.serve()
    (p.cfg / "config.toml").write_text(f'[providers.openai]\nbase_url = "{p.server.url}"\n')
    before = len(p.server.requests)
    p.run(["-m", "openai:fault-model", "hi"], name="providers.openai.base_url and OPENAI_API_KEY")
    sent = [r["headers"].get("Authorization", "") for r in p.server.requests[before:]]
    if any(KEYS["OPENAI_API_KEY"] in a for a in sent):
        p.tally.leaks.append("OPENAI_API_KEY sent to providers.openai.base_url")
    (p.cfg / "config.toml").unlink()
    for bad in ["sk-\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9", "sk-with space-1234", "sk-\x1b[2J-123456"]:
        p.run(p.remote("hi"), env={"OPENAI_API_KEY": bad, "OPENAI_BASE_URL": p.server.url}, name=f"bad env key {bad!r}")


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=p@e", "-c", "user.name=P", *args], cwd=cwd, check=True, capture_output=True)


def sandbox(p: Prober) -> None:
    base = p.work / "deep" / "er"
    root = base / "repo"
    root.mkdir(parents=True)
    victim = p.work / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("mine\n")
    git(root, "init", "-q", "-b", "main")
    (root / "a.py").write_text("print('hello')\n")
    for name, target in (("d", "."), ("e", "d/.."), ("f", "e/.."), ("g", "f/.."), ("h", "g/.."), ("abs", str(victim)),
                         ("gitlink", ".git"),
                         ("zero", "/dev/zero"), ("loop", "loop"), ("pw", "/etc/passwd")):
        (root / name).symlink_to(target)
    os.mkfifo(root / "pipe")
    git(root, "add", ".")
    git(root, "commit", "-qm", "links")
    watch = [victim, root, p.work / "deep"]
    paths = ["g/victim/precious.txt", "h/victim/x", "f/x", "e/x", "d/../../x", "../x", "/tmp/x", "abs/precious.txt",
             ".git/config", ".git/hooks/pre-commit", "d/.git/config", "gitlink/hooks/pre-commit", "gitlink/config", "zero", "pipe", "pw", "loop/x", "g/deep/er/repo/a.py"]
    for path in paths:
        p.serve(reply=f"```text path={path}\nowned\n```\nFinal answer: done")
        p.run(p.remote("hi", "--verify", f"env > {p.work}/verify-env.txt; cat a.py"), cwd=root, name=f"candidate writes {path}",
              watch=watch)
        seen = (p.work / "verify-env.txt").read_text() if (p.work / "verify-env.txt").exists() else ""
        for secret in SECRETS:
            if secret in seen:
                p.tally.leaks.append(f"candidate {path}: {secret[:12]}... in the verify env")
    diff = "--- a/g/etc/hostname\n+++ b/g/etc/hostname\n@@ -1 +1 @@\n-x\n+y\n"
    p.serve(reply=diff)
    p.run(p.remote("hi", "--verify", "true"), cwd=root, name="diff through a link", watch=watch)
    for cmd in ["cat zero | head -c 10", "cat pipe", "echo x > d/../escape", "ls -la g/ h/"]:
        p.serve(reply="Final answer: 4")
        p.run(p.remote("hi", "--verify", cmd, "--verify-timeout", "5"), cwd=root, name=f"verify command {cmd!r}",
              watch=[victim, root])
    p.serve(reply="```python\nprint('hello there')\n```")
    p.run(p.remote(), input=b"print('hello')  # some piped code to match against\n", cwd=root,
          name="piped-file guess next to /dev/zero and a FIFO", watch=watch, timeout=60)
    p.run(p.remote("hi", "--verify", f"env > {p.work}/kept.txt", "--verify-env", "AWS_SECRET_ACCESS_KEY"), cwd=root,
          name="--verify-env passes one through on purpose")


def fixing(p: Prober) -> None:
    root = p.work / "fixme"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "calc.py").write_text("def add(a, b):\n    return a - b\n")
    (root / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    git(root, "add", ".")
    git(root, "commit", "-qm", "bug")
    (root / "calc.py").write_text("def add(a, b):\n    return a - b\n# unstaged edit\n")
    (root / "out").mkdir()
    verify = f"{sys.executable} -m pytest -q -p no:cacheprovider test_calc.py"
    fix = "```python path=calc.py\ndef add(a, b):\n    return a + b\n# unstaged edit\n```"
    env = {"THINK_BASE_URL": p.server.url}
    for dest in ["calc.py", "test_calc.py", ".git/index", ".git/HEAD", ".git", "out", "./out/../calc.py", "/dev/null",
                 "/dev/full"]:
        p.serve(reply=fix)
        p.run(["fix", "calc.py", "--verify", verify, "-m", "openai:fault-model", "--patch", dest], env=env, cwd=root,
              name=f"fix --patch {dest}", watch=[root], must_change=[] if dest == "test_calc.py" else [])
    p.serve(reply=fix)
    p.run(["fix", "calc.py", "--verify", verify, "-m", "openai:fault-model", "--patch", "out/fix.patch"], env=env,
          cwd=root, name="fix --patch out/fix.patch (allowed)")
    crlf = p.work / "crlf"
    crlf.mkdir()
    (crlf / "calc.py").write_bytes(b"def add(a, b):\r\n    return a - b\r\n")
    (crlf / "test_calc.py").write_text("from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n")
    p.serve(reply="--- a/calc.py\n+++ b/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n")
    p.run(["fix", "calc.py", "--verify", verify, "-m", "openai:fault-model"], env=env, cwd=crlf, name="fix a CRLF file")
    if (crlf / "calc.py").read_bytes() != b"def add(a, b):\r\n    return a + b\r\n":
        p.tally.data_loss.append("fix a CRLF file: line endings mixed or lost")
    for files in (["out"], ["nope.py"], [".git/config"], ["/etc/passwd"]):
        p.run(["fix", *files, "--verify", verify, "-m", "openai:fault-model"], env=env, cwd=root,
              name=f"fix {files[0]}", watch=[root])


def storage(p: Prober) -> None:
    # Concurrent writers: every entry must survive.
    code = ("import subprocess, sys\nfor i in range(10):\n    subprocess.run([sys.executable, '-m', 'thinkcli', 'config', "
            "'set', f'aliases.w{w}_{i}', 'smollm2'], check=True, capture_output=True)\n")
    procs = [subprocess.Popen([sys.executable, "-c", f"w = {w}\n" + code], env=p.env, stdin=subprocess.DEVNULL)
             for w in range(4)]
    codes = [proc.wait(timeout=300) for proc in procs]
    p.tally.probes += 1
    kept = subprocess.run([sys.executable, "-m", "thinkcli", "config", "get"], capture_output=True,
                          env=p.env).stdout.decode().count("smollm2")
    if codes != [0] * 4 or kept != 40:
        p.tally.data_loss.append(f"4 concurrent config writers: {kept} of 40 aliases kept, exits {codes}")
    blocker = p.work / "a-file"
    blocker.write_text("x\n")
    for args in (["config", "set", "samples", "3"], ["keys", "set", "x", "--base-url", "http://127.0.0.1:9/v1"]):
        p.run(args, env={"THINK_CONFIG_DIR": str(blocker / "cfg")}, input=b"sk-abcdefgh1234\n", name=f"unwritable dir: {args[0]}")
    for damage in (b"garbage" * 200, b"SQLite format 3\x00" + b"\xff" * 4000):
        bad = p.work / f"bad{len(damage)}.db"
        bad.write_bytes(damage)
        p.run(["logs"], env={"THINK_HISTORY_DB": str(bad)}, name=f"corrupt history ({len(damage)} bytes)")
        p.run(["-m", "fake:m", "hi"], fake=True, env={"THINK_HISTORY_DB": str(bad)}, name="run with a corrupt history")
    for name in ("keys.toml", "prices.toml"):
        saved = (p.cfg / name).read_bytes() if (p.cfg / name).exists() else None
        (p.cfg / name).write_text("a = " + "{b = " * 5000)
        p.run(p.remote("hi"), name=f"deeply nested {name}")
        (p.cfg / name).write_text('[models."fault-model"]\ninput = nan\noutput = 1\n' if name == "prices.toml" else "x = 1")
        p.run(p.remote("hi", "--max-cost", "1"), name=f"odd {name}")
        if saved is None:
            (p.cfg / name).unlink()
        else:
            (p.cfg / name).write_bytes(saved)
    for key in (b"\xff\xfe\n", "sk-\u00e9\u00e9\u00e9\u00e9\n".encode(), b"sk-\x1b]52;c;x\x07\n", b"\n", b"a b c\n"):
        p.run(["keys", "set", "odd", "--base-url", p.server.url], input=key, name=f"keys set {key[:10]!r}", watch=[p.cfg])


def signals(p: Prober) -> None:
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        p.tally.probes += 1
        name = f"{signal.Signals(sig).name} during --verify"
        marker = p.work / f"pgid-{sig}"
        p.serve(reply="Final answer: 4")
        proc = subprocess.Popen([sys.executable, "-m", "thinkcli", *p.remote("hi", "--verify", f"echo $$ > {marker}; sleep 60")],
                                env=p.env, cwd=p.work / "tmp", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (marker.exists() and marker.read_text().strip()):
            time.sleep(0.05)
        proc.send_signal(sig)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            p.tally.tracebacks.append(f"{name}: did not end")
            continue
        p.check(name, subprocess.CompletedProcess(proc.args, proc.returncode, out, err), (128 + sig,))
        pgid = int(marker.read_text())
        for _ in range(100):
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            p.tally.data_loss.append(f"{name}: the verify command's process group still runs")
        left = list((p.work / "tmp").glob("think-verify-*"))
        if left:
            p.tally.data_loss.append(f"{name}: the verify copy was left behind ({left[0].name})")


def calibrating(p: Prober) -> None:
    data, notes, draw = p.work / "cal.jsonl", p.work / "notes.txt", p.work / "draw.json"
    data.write_text("".join(json.dumps({"question": f"What is {k} + 1?", "answer": str(k + 1)}) + "\n" for k in range(4)))
    notes.write_text("my notes, not a draw\n")
    tiny = ["--samples", "2", "--styles", "direct", "--max-tokens", "8", "--no-save"]
    for where in ["/dev/zero", "/dev/full", str(p.work / "fifo"), str(p.work), str(notes), "", str(p.work / "no/dir/d.json")]:
        p.run(["calibrate", str(data), "-m", "fake:m", *tiny, "--draw", where], fake=True, timeout=30,
              name=f"calibrate --draw {where!r}", watch=[notes])
    for source in ["/dev/zero", str(p.work / "fifo"), str(p.work / "binary.bin"), "/proc/self/mem", str(p.work)]:
        p.run(["calibrate", source, "-m", "fake:m", *tiny], fake=True, timeout=30, name=f"calibrate DATA {source}")
    # a remote draw with the stored key: the key reaches the server only, never the draw file
    p.serve(reply="Final answer: 2")
    remote = {"THINK_BASE_URL": p.server.url}
    p.run(["calibrate", str(data), "-m", "openai:fault-model", *tiny, "--draw", str(draw)], env=remote,
          name="calibrate a remote model with a stored key")
    if any(secret.encode() in draw.read_bytes() for secret in SECRETS):
        p.tally.leaks.append("calibrate: a key in the saved draw")
    for extra in (["--samples", "3"], ["-m", "openai:other"], ["--styles", "program"], ["--limit", "1"],
                  ["-m", "openai:fault-model", "--max-cost", "0.01", "--draw", str(p.work / "new.json")]):
        p.run(["calibrate", str(data), "--draw", str(draw), "--no-save", *extra], env=remote, ok=(2,),
              name=f"calibrate on a saved draw with {' '.join(extra[:3])}", watch=[draw])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer flag x value combinations")
    parser.add_argument("--verbose", action="store_true", help="one line per probe")
    args = parser.parse_args()
    tally = Tally(verbose=args.verbose)
    work = Path(tempfile.mkdtemp(prefix="think-probe-"))
    started = time.monotonic()
    prober = Prober(work, tally)
    try:
        for part in (lambda: flags_and_settings(prober, args.quick), lambda: inputs(prober), lambda: remote(prober),
                     lambda: sandbox(prober), lambda: fixing(prober), lambda: storage(prober), lambda: signals(prober),
                     lambda: calibrating(prober)):
            part()
    finally:
        prober.close()
        shutil.rmtree(work, ignore_errors=True)
    for title, items in (("tracebacks", tally.tracebacks), ("data loss", tally.data_loss), ("secret leaks", tally.leaks)):
        for item in items:
            print(f"{title}: {item}")
    print(f"probes {tally.probes} · tracebacks {len(tally.tracebacks)} · data-loss cases {len(tally.data_loss)} · "
          f"secret leaks {len(tally.leaks)} · {time.monotonic() - started:.0f} s")
    return 1 if tally.tracebacks or tally.data_loss or tally.leaks else 0


if __name__ == "__main__":
    sys.exit(main())
