"""One command run in the verify sandbox: how it runs and what comes back.

It owns the process: a shell command in its own process group, fed a file on stdin,
killed as a whole group at the wall-clock limit and whatever it left running when it
ends, with stdout and stderr captured together and cut to their head and tail. It
knows nothing of projects, copies or secrets: the caller (``sandbox.Sandbox.run``)
hands it a directory and an already cleaned environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

HEAD_BYTES = 6000  # output kept from the start of a run...
TAIL_BYTES = 6000  # ...and from its end


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


def run_group(command: str, cwd: Path, env: dict[str, str], stdin_file: Path, timeout: float) -> RunResult:
    """Run a shell command in its own process group; kill the whole group at ``timeout``
    and whatever it left running when it ends. Output: head and tail of stdout+stderr."""
    started = time.monotonic()
    proc = reader = None
    timed_out = False
    # Everything after the group starts sits inside the try: a SIGTERM or Ctrl-C (raised here as
    # KeyboardInterrupt) that arrives while the reader thread is still starting must kill it too.
    try:
        with open(stdin_file, "rb") as stdin:
            proc = subprocess.Popen(
                ["/bin/sh", "-c", command], cwd=cwd, env=env, stdin=stdin,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
            )
        reader = _Capture(proc.stdout)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
    finally:
        if proc is not None:
            kill_group(proc.pid)  # also reaps children still running after the shell exited
            proc.wait()
        if reader is not None:
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
