"""The verify sandbox: a throw-away copy of the project where a user's command runs
on model-written code.

It owns everything that keeps that code away from the user's work: which files
are copied (what git tracks plus untracked, non-ignored files, or the current
directory outside git), how (reflinks where the filesystem has them, plain
copies otherwise, never hard links), the environment (secrets removed), the
process group with its wall-clock limit, and the truncated output. The user's
tree and the git index are only ever read.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from thinkcli.errors import UsageError

HEAD_BYTES = 6000  # output kept from the start of a run...
TAIL_BYTES = 6000  # ...and from its end
SECRET_SUFFIXES = ("_API_KEY", "_APIKEY", "_TOKEN", "_SECRET", "_PASSWORD", "_SECRET_KEY", "_ACCESS_KEY")
SECRET_NAMES = {"API_KEY", "TOKEN", "SECRET", "PASSWORD"}
# git variables that would point a command in the copy back at the user's repository and index.
GIT_LOCATORS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_PREFIX")
MAX_PLAIN_FILES = 20_000  # outside git, the most files a copy may hold
FICLONE = 0x40049409  # ioctl: share the source's blocks copy-on-write (btrfs, xfs, ...)


@dataclass
class RunResult:
    exit_code: int | None  # None when the wall-clock limit killed the command
    output: str  # stdout and stderr interleaved, head and tail kept
    timed_out: bool
    duration_s: float
    truncated: bool = False

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


def is_secret(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether an environment variable may hold a credential.

    >>> [is_secret(n) for n in ("OPENAI_API_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "PATH", "HOME")]
    [True, True, True, False, False]
    >>> is_secret("MY_KEY", extra=["MY_KEY"])
    True
    """
    upper = name.upper()
    return upper in SECRET_NAMES or upper.endswith(SECRET_SUFFIXES) or name in set(extra)


def clean_env(environ: Mapping[str, str], extra_secrets: Iterable[str] = ()) -> dict[str, str]:
    """The environment a verify command gets: no secrets, no pointers to the user's git repo.

    >>> sorted(clean_env({"PATH": "/bin", "X_TOKEN": "t", "GIT_INDEX_FILE": "i"}))
    ['PATH']
    """
    extra = set(extra_secrets)
    return {k: v for k, v in environ.items() if not is_secret(k, extra) and k not in GIT_LOCATORS}


def truncate(data: bytes, head: int = HEAD_BYTES, tail: int = TAIL_BYTES) -> str:
    """Keep the head and the tail of long output, marking the cut.

    >>> truncate(b"abcdefghij", head=2, tail=3)
    'ab\\n[... 5 bytes cut ...]\\nhij'
    >>> truncate(b"short")
    'short'
    """
    if len(data) <= head + tail:
        return data.decode("utf-8", "replace")
    return _joined(data[:head], data[-tail:], len(data) - head - tail)


def _joined(head: bytes, tail: bytes, cut: int) -> str:
    if cut <= 0:
        return (head + tail).decode("utf-8", "replace")
    return head.decode("utf-8", "replace") + f"\n[... {cut} bytes cut ...]\n" + tail.decode("utf-8", "replace")


def git(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run git read-only plumbing; output as bytes."""
    env = {k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_WORK_TREE")}
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=check, env=env)
    except FileNotFoundError:
        raise UsageError("git is not installed; install git or run outside a repository") from None
    except subprocess.CalledProcessError as exc:
        msg = exc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise UsageError(f"git {args[0]} failed: {msg[-1] if msg else exc.returncode}") from None


def repo_root(cwd: Path) -> Path | None:
    """The top of the git work tree holding ``cwd``; None outside git."""
    proc = git(["rev-parse", "--show-toplevel"], cwd, check=False)
    if proc.returncode != 0:
        return None
    return Path(proc.stdout.decode().strip())


def project_files(root: Path, in_git: bool) -> list[str]:
    """Paths (relative to ``root``) of what the copy holds."""
    if in_git:
        out = git(["ls-files", "-z", "-co", "--exclude-standard"], root).stdout.decode("utf-8", "surrogateescape")
        names = sorted({n for n in out.split("\0") if n})
        # Deleted-but-tracked paths and submodules (directories) are not copied.
        return [n for n in names if (root / n).is_file() or (root / n).is_symlink()]
    names = []
    for dirpath, dirnames, filenames in os.walk(root):
        # Caches and VCS dirs are never part of what a command checks.
        dirnames[:] = [d for d in dirnames if d not in (".git", "__pycache__", ".pytest_cache", ".hg")]
        for f in filenames:
            names.append(os.path.relpath(os.path.join(dirpath, f), root))
        if len(names) > MAX_PLAIN_FILES:  # $HOME or / by mistake: copying it per candidate is no sandbox
            raise UsageError(
                f"{root} is not in a git repository and holds more than {MAX_PLAIN_FILES} files, too many to "
                "copy for every check; run --verify from your project's directory"
            )
    return sorted(names)


def clone_file(src: Path, dst: Path, root: Path) -> None:
    """Copy one file: a reflink when the filesystem can, bytes otherwise. Never a hard link:
    a hard link shares the inode, so a command writing in place would write the user's file."""
    if src.is_symlink():
        target = os.readlink(src)
        inside = os.path.normpath(os.path.join(os.path.dirname(os.path.relpath(src, root)), target))
        if not os.path.isabs(target) and not inside.startswith(".."):
            os.symlink(target, dst)  # points inside the copy
            return
        if not src.is_file():
            return  # a link out of the project to no file: nothing safe to copy
        # A link out of the project is copied as content, so writes can't follow it out.
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
        except OSError:
            shutil.copyfileobj(fin, fout, 1 << 20)
    shutil.copymode(src, dst)


def safe_relpath(name: str) -> str:
    """A path inside the project, or UsageError.

    >>> safe_relpath("./src//calc.py")
    'src/calc.py'
    >>> safe_relpath("../etc/passwd")
    Traceback (most recent call last):
    ...
    thinkcli.errors.UsageError: path ../etc/passwd leaves the project
    """
    norm = os.path.normpath(name.replace("\\", "/"))
    if os.path.isabs(norm) or norm == ".." or norm.startswith("../") or norm in ("", "."):
        raise UsageError(f"path {name} leaves the project")
    if norm == ".git" or norm.startswith(".git/"):
        raise UsageError(f"path {name} is inside .git")
    return norm


class Sandbox:
    """The project seen from ``cwd``, ready to be copied once per verification."""

    def __init__(self, cwd: Path | str | None = None, overlays: Mapping[str, bytes] | None = None,
                 extra_secrets: Iterable[str] = ()) -> None:
        self.cwd = Path(cwd or os.getcwd()).resolve()
        root = repo_root(self.cwd)
        self.in_git = root is not None
        self.root = (root or self.cwd).resolve()
        self.subdir = os.path.relpath(self.cwd, self.root)
        self.files = project_files(self.root, self.in_git)
        self.overlays = {safe_relpath(k): v for k, v in (overlays or {}).items()}
        self.extra_secrets = tuple(extra_secrets)

    def run(self, command: str, *, changes: Mapping[str, bytes | None] | None = None,
            answer: str = "", timeout: float = 60.0, environ: Mapping[str, str] | None = None) -> RunResult:
        """Copy the project, apply ``changes`` (path -> bytes, None deletes), run ``command``
        there with ``answer`` on stdin and in $THINK_ANSWER_FILE, and remove the copy."""
        top = Path(tempfile.mkdtemp(prefix="think-verify-"))
        try:
            work = top / "project"
            self._populate(work, {**self.overlays, **{safe_relpath(k): v for k, v in (changes or {}).items()}})
            answer_file = top / "answer.txt"
            answer_file.write_text(answer, encoding="utf-8")
            env = clean_env(os.environ if environ is None else environ, self.extra_secrets)
            env["THINK_ANSWER_FILE"] = str(answer_file)
            env["PWD"] = str(work / self.subdir)
            env["GIT_CEILING_DIRECTORIES"] = str(top)  # git in the copy must not find a repo above it
            return run_group(command, work / self.subdir, env, answer_file, timeout)
        finally:
            shutil.rmtree(top, ignore_errors=True)

    def _populate(self, work: Path, changes: Mapping[str, bytes | None]) -> None:
        work.mkdir()
        for name in self.files:
            if name in changes:
                continue
            dst = work / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                clone_file(self.root / name, dst, self.root)
            except FileNotFoundError:  # deleted while we copied: the copy follows the tree
                continue
        for name, data in changes.items():
            dst = work / name
            if data is None:
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            src = self.root / name
            dst.write_bytes(data)
            if src.is_file():
                shutil.copymode(src, dst)
        (work / self.subdir).mkdir(parents=True, exist_ok=True)


def run_group(command: str, cwd: Path, env: dict[str, str], stdin_file: Path, timeout: float) -> RunResult:
    """Run a shell command in its own process group; kill the whole group at ``timeout``
    and whatever it left running when it ends. Output: head and tail of stdout+stderr."""
    started = time.monotonic()
    with open(stdin_file, "rb") as stdin:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", command], cwd=cwd, env=env, stdin=stdin,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
        )
    reader = _Capture(proc.stdout)
    timed_out = False
    try:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
    finally:
        kill_group(proc.pid)  # also reaps children still running after the shell exited
        proc.wait()
        reader.join(2.0)  # a child that left the group could hold the pipe: don't wait on it
    return RunResult(
        None if timed_out else proc.returncode,
        reader.text() + (f"\n[killed after {timeout:g} s]" if timed_out else ""),
        timed_out,
        time.monotonic() - started,
        reader.total > HEAD_BYTES + TAIL_BYTES,
    )


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def group_alive(pgid: int) -> bool:
    """Whether any process of the group still exists (zombies aside)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


class _Capture:
    """Reads a pipe to the end on a thread, keeping only the head and a rolling tail."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while chunk := self.stream.read1(65536):
                self.total += len(chunk)
                room = HEAD_BYTES - len(self.head)
                if room > 0:
                    self.head += chunk[:room]
                    chunk = chunk[room:]
                if chunk:
                    self.tail += chunk
                    del self.tail[:-TAIL_BYTES]
        except (OSError, ValueError):
            pass

    def join(self, timeout: float) -> None:
        self.thread.join(timeout)
        if not self.thread.is_alive():
            self.stream.close()

    def text(self) -> str:
        return _joined(bytes(self.head), bytes(self.tail), self.total - len(self.head) - len(self.tail))

