"""The answers file: what an earlier run finished (resume), and one appended, flushed line per row.

Each line is written with one ``write`` on an unbuffered file, so a crash or a
SIGKILL loses at most the row being written; a torn last line left by such a
crash is cut off on resume. Rows recorded with an ``error`` are dropped on resume
and their questions asked again. ``InOrder`` holds finished rows back until every
earlier one is written, for ``--ordered``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from thinkcli.errors import UsageError
from thinkcli.files import atomic_write


def id_key(value: Any) -> str:
    """A row's id as rows are matched on: 1 and "1" differ, as they do in the JSON."""
    return json.dumps(value, ensure_ascii=False)


class Output:
    def __init__(self, path: str | None, *, overwrite: bool = False) -> None:
        self.path = Path(path) if path and path != "-" else None
        self.overwrite = overwrite
        self.done: set[str] = set()  # ids (as id_key) of rows an earlier run answered
        self.rows: list[dict] = []  # those rows themselves (think bench rebuilds its table from them)
        self.retried = 0  # failed rows of an earlier run, dropped to be asked again
        self._file = None
        self._keep: list[bytes] | None = None  # the rows to keep when the file must be rewritten

    def scan(self) -> set[str]:
        """The ids an earlier run answered (none with --overwrite); reads, changes nothing."""
        self._keep = None
        if self.path is None:
            return self.done
        if self.path.is_dir():
            raise UsageError(f"{self.path} is a directory; -o takes a file")
        if self.path.exists() and not self.overwrite:
            self._resume()
        return self.done

    def open(self) -> None:
        """Drop the failed rows and a torn last line the scan found, then open for appending."""
        if self.path is None:
            return
        if self._keep is not None:
            atomic_write(self.path, b"".join(line + b"\n" for line in self._keep))
        try:
            self._file = open(self.path, "wb" if self.overwrite else "ab", buffering=0)
        except OSError as exc:
            raise UsageError(f"cannot write {self.path}: {exc.strerror}") from None

    def _resume(self) -> None:
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise UsageError(f"cannot read {self.path}: {exc.strerror}") from None
        lines = data.split(b"\n")
        torn = lines.pop() if lines else b""  # text after the last newline: a row cut by a crash
        keep: list[bytes] = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            row = _row(line)
            if row is None:
                raise UsageError(f"{self.path}:{number}: not a row `think batch` wrote; "
                                 "give another -o file or --overwrite to replace it")
            if "error" in row:
                self.retried += 1
                continue
            self.done.add(id_key(row["id"]))
            self.rows.append(row)
            keep.append(line)
        complete = _row(torn) if torn.strip() else None
        if complete is not None and "error" not in complete:  # whole, only its newline missing
            self.done.add(id_key(complete["id"]))
            self.rows.append(complete)
            keep.append(torn)
        elif complete is not None:
            self.retried += 1
        if self.retried or torn:
            self._keep = keep  # rewritten by open(), once the batch is known to run

    def write(self, row: dict[str, Any]) -> None:
        line = (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
        if self._file is None:
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
        else:
            self._file.write(line)  # one write(2): a kill loses at most this row

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _row(line: bytes) -> dict | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) and "id" in row else None


class InOrder:
    """Releases finished rows in input order; ``None`` marks a position that writes nothing.

    >>> order = InOrder()
    >>> order.add(1, "b"), order.add(2, None), order.add(0, "a"), order.add(3, "d")
    ([], [], ['a', 'b'], ['d'])
    """

    def __init__(self) -> None:
        self.next = 0
        self.waiting: dict[int, Any] = {}

    def add(self, position: int, row: Any) -> list[Any]:
        self.waiting[position] = row
        out = []
        while self.next in self.waiting:
            item = self.waiting.pop(self.next)
            self.next += 1
            if item is not None:
                out.append(item)
        return out
