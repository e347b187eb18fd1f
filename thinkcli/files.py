"""Files thinkcli keeps on disk: the data directory, and replacing a file in one step.

Config, keys, history, models and ``think fix`` all go through here, so a crash
never leaves a half-written file and every room agrees on where data lives.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path

APP = "thinkcli"


def data_dir() -> Path:
    """The per-user data directory (history, downloaded models); platformdirs decides where.

    >>> data_dir().name.lower()
    'thinkcli'
    """
    from platformdirs import user_data_dir  # lazy: `think --help` never needs it

    return Path(user_data_dir(APP))


def atomic_write(path: Path, data: bytes | str, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` in one step: a temporary file in the same directory,
    flushed to disk, then renamed over it. ``mode`` None keeps the file's mode (0o644 when new).

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "sub" / "x.txt"
    >>> atomic_write(p, "one", mode=0o600); atomic_write(p, b"two")
    >>> p.read_text(), oct(p.stat().st_mode & 0o777), sorted(q.name for q in p.parent.iterdir())
    ('two', '0o600', ['x.txt'])
    """
    path = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def locked(lock_file: Path):
    """Hold an exclusive flock on ``lock_file`` (created 0600) for a read-modify-write: two
    writers at once would otherwise both read the old file and one write would be lost.
    Closing releases it, also when the process dies. OSError when it cannot be created."""
    lock_file = Path(lock_file)
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
