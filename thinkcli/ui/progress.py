"""A batch's progress on stderr: a Rich bar on a terminal, else only the closing summary line.

Draws done/total, failures, tokens, cost, throughput and ETA from the batch
events (``BatchStarted``, ``RowFinished``, ``BatchStopped``); ``close`` prints
one summary line saying what was answered and, when the batch ended early, why.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from thinkcli.events import BatchStarted, BatchStopped, Event, Notice, Retry, RowFinished, Usage
from thinkcli.ui.summary import cost_text

WHY = {
    "cost": "stopped by cost budget",
    "tokens": "stopped by tokens budget",
    "interrupted": "interrupted",
    "unavailable": "stopped: backend unavailable",
    "failures": "stopped after 10 failures in a row",
}


@dataclass
class Tally:
    total: int = 0
    skipped: int = 0
    answered: int = 0
    failed: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = 0.0
    local: bool = True
    stopped: str | None = None
    wall_s: float = 0.0

    def add(self, event: RowFinished) -> None:
        if event.ok:
            self.answered += 1
        else:
            self.failed += 1
        self.usage = self.usage + event.usage
        self.cost_usd = None if event.cost_usd is None or self.cost_usd is None else self.cost_usd + event.cost_usd
        self.local = self.local and event.local


def summary_line(t: Tally, label: str = "batch") -> str:
    """
    >>> summary_line(Tally(total=64, answered=63, failed=1, usage=Usage(640, 128), wall_s=4.0))
    'batch: 63 answered · 1 failed · tokens 640 prompt / 128 completion · 4.00 s · 16.0 questions/s · $0.0000 local'
    >>> summary_line(Tally(total=6, skipped=4, answered=3, local=False, cost_usd=0.75, stopped="cost", wall_s=2))
    'batch: 3 answered · 4 already answered · tokens 0 prompt / 0 completion · 2.00 s · 1.5 questions/s · $0.7500 · stopped by cost budget, 3 not started'
    """
    approx = "~" if t.usage.estimated else ""
    parts = [f"{label}: {t.answered} answered"]
    if t.failed:
        parts.append(f"{t.failed} failed")
    if t.skipped:
        parts.append(f"{t.skipped} already answered")
    parts.append(f"tokens {approx}{t.usage.prompt_tokens} prompt / {approx}{t.usage.completion_tokens} completion")
    rate = (t.answered + t.failed) / t.wall_s if t.wall_s > 0 else 0.0
    parts += [f"{t.wall_s:.2f} s", f"{rate:.1f} questions/s", cost_text(t)]
    if t.stopped:
        left = t.total - t.answered - t.failed
        parts.append(WHY.get(t.stopped, t.stopped) + (f", {left} not started" if left > 0 else ""))
    return " · ".join(parts)


class BatchProgress:
    """The sink a batch reports to; ``live`` draws the bar (a terminal), else nothing until ``close``."""

    def __init__(self, live: bool, quiet: bool = False, stream=None, clock=time.monotonic, label: str = "batch") -> None:
        self.label = label  # the command: batch | bench
        self.live = live and not quiet
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.clock = clock
        self.started = clock()
        self.tally = Tally()
        self._bar = None
        self._task = None

    @property
    def cost_usd(self):  # cost_text reads these off whatever it is given
        return self.tally.cost_usd

    def emit(self, event: Event) -> None:
        if isinstance(event, BatchStarted):
            self.tally.total, self.tally.skipped = event.total, event.skipped
            self.started = self.clock()
            if self.live:
                self._open(event)
        elif isinstance(event, RowFinished):
            self.tally.add(event)
            self._refresh()
        elif isinstance(event, BatchStopped):
            self.tally.stopped = event.reason
            if event.detail and not self.quiet:
                self._say(f"think: error: {event.detail}")
        elif isinstance(event, Retry) and not self.quiet:
            self._say(f"Retrying in {event.after_s:.1f} s ({event.reason})")
        elif isinstance(event, Notice) and not self.quiet:
            self._say(f"think: warning: {event.text}")

    def _say(self, text: str) -> None:
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=self.stream, flush=True)

    def _open(self, event: BatchStarted) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn(f"[bold]{self.label}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[stats]}"),
            TextColumn("ETA"), TimeRemainingColumn(),
            console=Console(file=self.stream, stderr=self.stream is sys.stderr, highlight=False),
            transient=True,
        )
        self._task = self._bar.add_task("batch", total=event.total, stats=self._stats())
        self._bar.start()

    def _stats(self) -> str:
        t = self.tally
        elapsed = max(self.clock() - self.started, 1e-9)
        done = t.answered + t.failed
        failed = f"[red]{t.failed} failed[/] · " if t.failed else ""
        return (f"{failed}{t.usage.total_tokens} tok · {cost_text(t, so_far=True)} · "
                f"{done / elapsed:.1f} q/s · {t.usage.completion_tokens / elapsed:.0f} tok/s")

    def _refresh(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.tally.answered + self.tally.failed, stats=self._stats())

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def close(self) -> None:
        self.stop()
        self.tally.wall_s = self.clock() - self.started
        if not self.quiet:
            print(summary_line(self.tally, self.label), file=self.stream, flush=True)
