"""One file onto disk: resumable, checksummed, atomic, with progress.

The bytes go to ``PARTIAL`` (appending to what an earlier, cut run left there, with
an HTTP Range request through huggingface_hub's ``http_get``), are hashed as a
visible step, and only then renamed to their final name: a half file is never a
model. A cut keeps the partial file for the next run; a checksum mismatch drops it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from pathlib import Path

from thinkcli.errors import ThinkError

HASH_BLOCK = 1 << 20


class Progress:
    """What a pull reports; the CLI draws it (a Rich bar per file), tests record it."""

    def start(self, key: str, label: str, total: int | None, done: int = 0) -> None: ...

    def advance(self, key: str, n: int) -> None: ...

    def finish(self, key: str, note: str = "") -> None: ...

    def note(self, text: str) -> None: ...


class DownloadCut(ThinkError):
    """The transfer stopped part-way; the partial file is kept for a resume."""


class ChecksumMismatch(ThinkError):
    """The bytes are not the ones the Hub lists; the partial file is gone."""


class DiskFull(ThinkError):
    """No room on the disk; nothing half-written is left as a model."""


def bar_class(progress: Progress, key: str):
    """A tqdm class for huggingface_hub's ``tqdm_class`` hook that forwards to ``progress``."""
    from tqdm.auto import tqdm

    class Bar(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)
            kwargs["disable"] = True  # we draw; tqdm must not print
            super().__init__(*args, **kwargs)

        def update(self, n=1):  # n < 0 when the server ignored Range and the file restarted
            progress.advance(key, int(n or 0))

    return Bar


def need_space(folder: Path, missing: int) -> None:
    """Refuse before writing when the disk cannot hold the rest of the file."""
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if missing > free:
        raise DiskFull(
            f"not enough disk space in {folder}: {human(missing)} needed, {human(free)} free; "
            "free some space or point HF_HOME (or THINK_MODELS_DIR for URLs) at a bigger disk"
        )


def human(n: int | None) -> str:
    """Bytes for people.

    >>> human(98_000_000), human(1_500_000_000), human(512)
    ('98 MB', '1.5 GB', '512 B')
    """
    if n is None:
        return "? B"
    if n >= 1e9:
        return f"{n / 1e9:.1f} GB"
    if n >= 1e6:
        return f"{n / 1e6:.0f} MB"
    if n >= 1e3:
        return f"{n / 1e3:.0f} kB"
    return f"{n} B"


def fetch(url: str, partial: Path, dest: Path, *, size: int | None, sha256: str | None,
          headers: dict, label: str, again: str, progress: Progress, gguf: bool = False) -> int:
    """Download ``url`` to ``dest`` through ``partial``; return the bytes fetched this run.

    ``again`` is the command that resumes (named in the error of a cut run).
    """
    from huggingface_hub.file_download import http_get

    start = partial.stat().st_size if partial.exists() else 0
    if size is not None and start > size:  # not ours to continue: start over
        partial.unlink()
        start = 0
    need_space(partial.parent, (size or 0) - start)
    progress.start(label, label, size, start)
    try:
        with open(partial, "ab") as fh:
            http_get(url, fh, resume_size=start, headers=headers, expected_size=size,
                     displayed_filename=label, tqdm_class=bar_class(progress, label))
    except OSError as exc:
        got = partial.stat().st_size if partial.exists() else 0
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(
                f"disk full in {partial.parent} after {human(got)} of {human(size)} of {label}; "
                f"the partial file is kept (not a model): free space and run `{again}` to continue"
            ) from None
        raise _cut(label, got, size, exc, again) from None
    except Exception as exc:  # huggingface_hub's and httpx2's errors: a cut, keep the partial
        got = partial.stat().st_size if partial.exists() else 0
        raise _cut(label, got, size, exc, again) from None
    fetched = partial.stat().st_size - start
    progress.finish(label, f"{human(fetched)} fetched" if start == 0 else f"resumed at {human(start)}")
    if sha256:
        verify(partial, sha256, label, progress)
    if gguf and not _is_gguf(partial):
        partial.unlink()
        raise ThinkError(f"{url} did not serve a GGUF file; check the URL (the download was discarded)")
    os.chmod(partial, 0o644)
    os.replace(partial, dest)
    return fetched


def _cut(label: str, got: int, size: int | None, exc: BaseException, again: str) -> ThinkError:
    reason = getattr(getattr(exc, "response", None), "status_code", None)
    reason = f"HTTP {reason}" if reason else type(exc).__name__
    return DownloadCut(f"download of {label} stopped at {human(got)} of {human(size)} ({reason}); "
                       f"run `{again}` to resume")


def verify(path: Path, sha256: str, label: str, progress: Progress) -> None:
    """Hash the file as a visible step; a mismatch removes it (a resume would keep bad bytes)."""
    key = f"verify {label}"
    progress.start(key, f"verify {label}", path.stat().st_size)
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(HASH_BLOCK):
            digest.update(block)
            progress.advance(key, len(block))
    got = digest.hexdigest()
    if got != sha256.lower():
        path.unlink()
        progress.finish(key, "mismatch")
        raise ChecksumMismatch(
            f"checksum mismatch for {label}: the Hub lists sha256 {sha256[:12]}…, the download has "
            f"{got[:12]}…; the bad file was discarded, run the pull again (a mirror via HF_ENDPOINT may be stale)"
        )
    progress.finish(key, "sha256 ok")


def _is_gguf(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"GGUF"
