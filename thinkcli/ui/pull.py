"""How a model pull looks: a Rich bar per file (bytes, speed, ETA) and one for each sha256
check on a terminal; one line per step otherwise. Implements hub_transfer's Progress."""

from __future__ import annotations

import sys


def _human(n: int | None) -> str:
    from rich.filesize import decimal

    return "? B" if n is None else decimal(n)


class PlainPull:
    """No terminal: a line when a file starts and when it is done."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.labels: dict[str, str] = {}

    def _say(self, text: str) -> None:
        print(f"think: {text}", file=self.stream, flush=True)

    def start(self, key: str, label: str, total: int | None, done: int = 0) -> None:
        self.labels[key] = label
        if key.startswith("verify "):
            return
        how = f"resuming at {_human(done)} of {_human(total)}" if done else _human(total)
        self._say(f"pulling {label} ({how})")

    def advance(self, key: str, n: int) -> None:
        pass

    def finish(self, key: str, note: str = "") -> None:
        self._say(f"{self.labels.get(key, key)}: {note}" if note else f"{self.labels.get(key, key)}: done")

    def note(self, text: str) -> None:
        self._say(text)

    def close(self) -> None:
        pass


class RichPull(PlainPull):
    """A terminal: one live line per file and per check, kept on screen when done."""

    def __init__(self, stream=None) -> None:
        super().__init__(stream)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self.console = Console(file=self.stream, highlight=False)
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), console=self.console, transient=False,
        )
        self.tasks: dict[str, int] = {}
        self.progress.start()

    def start(self, key: str, label: str, total: int | None, done: int = 0) -> None:
        self.labels[key] = label
        self.tasks[key] = self.progress.add_task(label, total=total, completed=done)

    def advance(self, key: str, n: int) -> None:
        if key in self.tasks:
            self.progress.advance(self.tasks[key], n)

    def finish(self, key: str, note: str = "") -> None:
        if key in self.tasks:
            task = self.tasks[key]
            total = self.progress.tasks[task].total
            desc = f"{self.labels[key]} [dim]{note}[/dim]" if note else self.labels[key]
            self.progress.update(task, description=desc, completed=total)

    def note(self, text: str) -> None:
        self.progress.console.print(f"think: {text}")

    def close(self) -> None:
        self.progress.stop()


def make_pull_progress(quiet: bool = False):
    """A Rich display on a terminal (no NO_COLOR/TERM=dumb/PRE_COMMIT), plain lines otherwise."""
    from thinkcli.ui import live_allowed

    if quiet:
        return PlainPull(stream=_Null())
    return RichPull() if live_allowed() else PlainPull()


class _Null:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass
