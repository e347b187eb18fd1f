"""The verify sandbox: a throw-away copy of the project where a user's command runs
on model-written code.

It owns what that command can see and reach, and keeps it away from the user's work:
which files are copied (what git tracks plus untracked, non-ignored files, or the
current directory outside git), how (reflinks where the filesystem has them, plain
copies otherwise, never hard links), which paths a candidate may write, and the
environment (secrets and pointers to the user's git repository removed). The user's
tree and the git index are only ever read. Running the command (its process group,
wall-clock limit and truncated output) is ``process.py``'s.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from thinkcli.errors import UsageError
from thinkcli.verify.process import RunResult, run_group
from thinkcli.verify.process import group_alive as group_alive  # re-export: tests import it here
from thinkcli.verify.process import truncate as truncate  # re-export: fix.py imports it here

# What credential scanners (gitleaks, trufflehog, detect-secrets) treat as secrets, by name:
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "APIKEY", "API_KEY",
                "ACCESS_KEY", "PRIVATE_KEY", "AUTH", "SESSION", "COOKIE", "SIGNING", "WEBHOOK")
SECRET_ENDINGS = ("_KEY", "_PWD", "_PASS", "_DSN", "_PAT", "_DATABASE_URL", "_DB_URL", "_URI", "_CONN",
                  "_CONNECTION_STRING", "_KEYS")
SECRET_PREFIXES = ("AWS_", "AZURE_", "ARM_", "GOOGLE_", "GCP_", "GCLOUD_", "CLOUDSDK_", "GH_", "NPM_", "NODE_AUTH", "PYPI_", "TWINE_", "DOCKER_", "HEROKU_",
                   "DIGITALOCEAN_", "DO_", "VAULT_", "CONSUL_", "STRIPE_", "SLACK_", "TWILIO_", "SENDGRID_",
                   "HF_", "HUGGING", "OPENAI_", "ANTHROPIC_", "MISTRAL_", "COHERE_", "GROQ_", "GEMINI_",
                   "DATABRICKS_", "SNOWFLAKE_", "CLOUDFLARE_", "CF_", "SENTRY_", "DATADOG_", "DD_", "OP_")
SECRET_NAMES = {"API_KEY", "TOKEN", "SECRET", "PASSWORD", "DATABASE_URL", "DB_URL", "REDIS_URL", "MONGO_URL",
                "MONGODB_URI", "AMQP_URL", "RABBITMQ_URL", "CELERY_BROKER_URL", "KUBECONFIG", "SSH_AUTH_SOCK",
                "GPG_AGENT_INFO", "XAUTHORITY", "KRB5CCNAME", "NETRC", "PGPASSFILE", "PGPASSWORD", "MYSQL_PWD", "ACTIONS_RUNTIME_TOKEN",
                "CI_JOB_TOKEN", "DOCKER_AUTH_CONFIG", "GOOGLE_APPLICATION_CREDENTIALS"}
# Values in the shape of a known credential, whatever their variable is called.
SECRET_VALUE = re.compile(
    r"(?:^|[^A-Za-z0-9])(?:sk-[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|glpat-[\w-]{20,}"
    r"|xox[abposr]-[\w-]{10,}|AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|AIza[\w-]{30,}|hf_[A-Za-z0-9]{30,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----)"
    r"|://[^/\s:@]+:[^/\s@]+@"  # a URL with user:password
)
# git variables that would point a command in the copy back at the user's repository and index.
GIT_LOCATORS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_PREFIX")
MAX_PLAIN_FILES = 20_000  # outside git, the most files a copy may hold
FICLONE = 0x40049409  # ioctl: share the source's blocks copy-on-write (btrfs, xfs, ...)


def is_secret(name: str, extra: Iterable[str] = (), value: str = "") -> bool:
    """Whether an environment variable may hold a credential, by its name or its value.

    >>> [is_secret(n) for n in ("OPENAI_API_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "AWS_PROFILE", "DATABASE_URL")]
    [True, True, True, True, True]
    >>> [is_secret(n) for n in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV", "TERM")]
    [False, False, False, False, False, False]
    >>> is_secret("MY_KEY", extra=["MY_KEY"]), is_secret("PROXY", value="http://me:pw@proxy:3128")
    (True, True)
    """
    upper = name.upper()
    return (
        upper in SECRET_NAMES
        or any(word in upper for word in SECRET_WORDS)
        or upper.endswith(SECRET_ENDINGS)
        or upper.startswith(SECRET_PREFIXES)
        or name in set(extra)
        or bool(value and SECRET_VALUE.search(value))
    )


def clean_env(environ: Mapping[str, str], extra_secrets: Iterable[str] = (), keep: Iterable[str] = ()) -> dict[str, str]:
    """The environment a verify command gets: no secrets, no pointers to the user's git repo.
    ``keep`` names variables the user passes through on purpose (``--verify-env NAME``).

    >>> sorted(clean_env({"PATH": "/bin", "X_TOKEN": "t", "GIT_INDEX_FILE": "i", "AWS_PROFILE": "p"}))
    ['PATH']
    >>> sorted(clean_env({"PATH": "/bin", "AWS_PROFILE": "p"}, keep=["AWS_PROFILE"]))
    ['AWS_PROFILE', 'PATH']
    """
    extra, kept = set(extra_secrets), set(keep)
    return {k: v for k, v in environ.items()
            if k not in GIT_LOCATORS and (k in kept or not is_secret(k, extra, v))}



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
        # Deleted-but-tracked paths and submodules (directories) are not copied; special
        # files stay listed so that the copy can say it left them out.
        return [n for n in names if os.path.lexists(root / n) and not (root / n).is_dir() or (root / n).is_symlink()]
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


def inside(base: Path, path: Path | str) -> bool:
    """Whether ``path``, every link in it resolved, lies strictly inside ``base`` (itself resolved):
    the decision for links and for every path a candidate names. ``base`` itself is not inside.

    >>> import tempfile; d = Path(tempfile.mkdtemp()).resolve(); (d / "self").symlink_to(".")
    >>> inside(d, d / "a.py"), inside(d, d / "self"), inside(d, d / "self" / ".." / "x")
    (True, False, False)
    """
    base = os.path.realpath(base)
    real = os.path.realpath(path)
    return real != base and os.path.commonpath([base, real]) == base


def _open_regular(path: Path, follow: bool) -> int | None:
    """A read descriptor on ``path`` when it is a regular file, else None. Opening never
    blocks (a FIFO would wait for a writer forever) and never follows a final link unless asked."""
    flags = os.O_RDONLY | os.O_NONBLOCK | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def read_regular(path: Path, limit: int) -> bytes | None:
    """The bytes of ``path`` (links followed) when it is a regular file of at most ``limit``
    bytes; None for anything else, without ever blocking on a FIFO or reading a device."""
    fd = _open_regular(path, follow=True)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    return data if len(data) <= limit else None


def left_out(src: Path, root: Path) -> str | None:
    """Why ``src`` is not copied (a special file, a link to one or to a directory leading out
    of the project), or None when it is. Decided from metadata, without opening anything."""
    try:
        st = os.lstat(src)
    except OSError:
        return None
    rel = os.path.relpath(src, root)
    if stat.S_ISLNK(st.st_mode):
        if _kept_link(src, root):
            return None
        try:
            target = os.stat(src)
        except OSError:
            return f"{rel} (a link to nothing)"
        if stat.S_ISDIR(target.st_mode):
            return f"{rel} (a link to a directory that leads out of the project)"
        return None if stat.S_ISREG(target.st_mode) else f"{rel} (a link to a FIFO, socket or device)"
    return None if stat.S_ISREG(st.st_mode) else f"{rel} (a FIFO, socket or device)"


def _kept_link(src: Path, root: Path) -> bool:
    """A link stays a link only when its text stays in the project and its real path does:
    a chain like `e -> d/..` with `d -> .` reads as inside but resolves outside, and a link
    to the project root would make the copy's parent reachable as `link/..`."""
    target = os.readlink(src)
    lexical = os.path.normpath(os.path.join(os.path.dirname(os.path.relpath(src, root)), target))
    return not os.path.isabs(target) and not lexical.startswith("..") and inside(root, src)


def clone_file(src: Path, dst: Path, root: Path) -> None:
    """Copy one file: a reflink when the filesystem can, bytes otherwise. Never a hard link:
    a hard link shares the inode, so a command writing in place would write the user's file.
    A link that stays inside the project stays a link; any other link is copied as the
    regular file it points to. Special files (and links to them) are not copied."""
    if os.path.islink(src) and _kept_link(src, root):
        os.symlink(os.readlink(src), dst)
        return
    fd = _open_regular(src, follow=True)  # O_NONBLOCK: a FIFO swapped in meanwhile can't hang us
    if fd is None:
        return
    with os.fdopen(fd, "rb") as fin, open(dst, "wb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
        except OSError:
            shutil.copyfileobj(fin, fout, 1 << 20)
        os.chmod(dst, stat.S_IMODE(os.fstat(fin.fileno()).st_mode))


class Escape(UsageError):
    """A path a candidate names resolves outside the copy (through links)."""


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
                 extra_secrets: Iterable[str] = (), keep_env: Iterable[str] = ()) -> None:
        self.cwd = Path(cwd or os.getcwd()).resolve()
        root = repo_root(self.cwd)
        self.in_git = root is not None
        self.root = (root or self.cwd).resolve()
        self.subdir = os.path.relpath(self.cwd, self.root)
        self.files = project_files(self.root, self.in_git)
        self.overlays = {safe_relpath(k): v for k, v in (overlays or {}).items()}
        self.extra_secrets = tuple(extra_secrets)
        self.keep_env = tuple(keep_env)
        # What the copy leaves out, and why: said once to the user, never silently.
        self.left_out = [why for name in self.files if (why := left_out(self.root / name, self.root))]

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
            env = clean_env(os.environ if environ is None else environ, self.extra_secrets, self.keep_env)
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
            clone_file(self.root / name, dst, self.root)
        for name, data in changes.items():
            dst = work / name
            if data is None:
                continue
            if not inside(work, dst):  # through a link, to the copy's root or out of it
                raise Escape(f"path {name} leads out of the project through a symbolic link")
            try:
                dst.parent.mkdir(parents=True, exist_ok=True)
                if not inside(work, dst):  # mkdir went through a link: judge the final place again
                    raise Escape(f"path {name} leads out of the project through a symbolic link")
                if dst.is_symlink() or (dst.exists() and not dst.is_file()):
                    raise Escape(f"path {name} is a link or not a regular file in the project")
                dst.write_bytes(data)
            except OSError as exc:
                raise Escape(f"path {name} cannot be written in the project ({exc.strerror})") from None
            src = self.root / name
            if src.is_file() and not src.is_symlink():
                shutil.copymode(src, dst)
        (work / self.subdir).mkdir(parents=True, exist_ok=True)
