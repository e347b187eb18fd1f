"""The scheduler: up to K tasks at once, each started only when the budgets allow it.

Generic over what a task is (a batch question, a bench grid cell's question):
``work(task)`` runs one and returns a ``Done``; the scheduler books its spending,
hands its row to ``write`` (in input order with ``ordered``), reports progress
events, and stops starting tasks on a budget, a fatal error or Ctrl-C, always
letting the ones in flight finish so every written row is whole.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from thinkcli.errors import ModelUnavailable, ThinkError
from thinkcli.events import BatchStopped, NullSink, RowFinished, Sink, Usage
from thinkcli.jobs.budget import Ledger, Need
from thinkcli.jobs.output import InOrder


@dataclass
class Task:
    position: int  # place in this run's to-do list: the order --ordered writes in
    id: Any
    need: Need = field(default_factory=lambda: Need(0))
    payload: Any = None


@dataclass
class Done:
    """What one task came to. ``row`` None writes nothing (an interrupted question is asked again on resume)."""

    row: dict | None
    usage: Usage = field(default_factory=Usage)
    cost: float | None = 0.0
    local: bool = True
    error: ThinkError | None = None  # the row failed; recorded, the batch goes on
    fatal: ThinkError | None = None  # the backend is gone: stop starting tasks


FAILURES_IN_A_ROW = 10  # then the backend, not the questions, is failing: stop before asking thousands


@dataclass
class Summary:
    total: int
    answered: int = 0
    failed: int = 0
    stopped_by: str | None = None  # 'cost' | 'tokens' | 'interrupted' | 'unavailable' | 'failures'
    fatal: ThinkError | None = None
    failing: int = 0  # failures since the last answered task
    usage: Usage = field(default_factory=Usage)
    cost: float | None = 0.0
    local: bool = True

    @property
    def not_started(self) -> int:
        return self.total - self.answered - self.failed


def attempt(call: Callable[[], Any], make_row: Callable[[Any], dict]) -> Done:
    """One task's run (``call`` returns a Result) as a Done: an unreachable backend is fatal,
    any other ThinkError fails the row, an interrupted run writes nothing (it is asked again
    on resume) but still counts what it spent."""
    try:
        result = call()
    except ModelUnavailable as exc:
        return Done(None, fatal=exc)
    except ThinkError as exc:
        return Done(None, error=exc)
    row = None if result.interrupted else make_row(result)
    return Done(row, result.usage, result.cost_usd, result.local)


def run_tasks(tasks: Iterable[Task], work: Callable[[Task], Done], write: Callable[[dict], None], *,
              concurrency: int = 1, ledger: Ledger | None = None, sink: Sink | None = None,
              cancel: threading.Event | None = None, ordered: bool = False, window: int | None = None) -> Summary:
    """Run ``tasks`` through ``work``, K at a time. With ``ordered``, a task more than ``window``
    places past the oldest unwritten row waits, so rows held back for order stay few."""
    pending = deque(tasks)
    summary = Summary(len(pending))
    ledger = ledger or Ledger()
    sink = sink or NullSink()
    cancel = cancel or threading.Event()
    order = InOrder() if ordered else None
    window = window or max(4 * concurrency, 64)
    running: dict[Future, Task] = {}
    pool = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="think-batch")
    try:
        while True:
            try:
                _start(pending, running, pool, work, ledger, summary, concurrency, cancel, order, window)
                if not running:
                    break
                # a timeout notices a cancel set by a signal handler that does not raise
                finished, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:
                if cancel.is_set():
                    raise  # a second Ctrl-C: stop waiting for the questions in flight
                cancel.set()  # the questions in flight wind down; their rows are not written
                continue
            if cancel.is_set() and summary.stopped_by in (None, "cost", "tokens"):
                summary.stopped_by = "interrupted"
            for future in finished:
                task = running.pop(future)
                _finish(task, future, ledger, summary, write, sink, order)
        if cancel.is_set() and summary.stopped_by is None:
            summary.stopped_by = "interrupted"
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    if summary.stopped_by:
        sink.emit(BatchStopped(summary.stopped_by, summary.fatal.message if summary.fatal else ""))
    return summary


def _start(pending, running, pool, work, ledger, summary, concurrency, cancel, order, window) -> None:
    while pending and summary.stopped_by is None and not cancel.is_set() and len(running) < concurrency:
        task = pending[0]
        if order is not None and task.position - order.next >= window:
            return
        why = ledger.reserve(task.need)
        if why is not None:
            if not running:  # nothing in flight can free budget: the next question could overspend
                summary.stopped_by = why
            return
        pending.popleft()
        running[pool.submit(_guarded, work, task)] = task


def _guarded(work, task: Task) -> Done:
    try:
        return work(task)
    except ThinkError as exc:  # work reports its errors in Done; this is a safety net
        return Done(None, error=exc)


def _finish(task: Task, future: Future, ledger: Ledger, summary: Summary, write, sink: Sink, order) -> None:
    done: Done = future.result()
    ledger.settle(task.need, done.usage.total_tokens, done.cost)
    summary.usage = summary.usage + done.usage
    if done.cost is None:
        summary.cost = None
    elif summary.cost is not None:
        summary.cost += done.cost
    summary.local = summary.local and done.local
    row = done.row
    if done.fatal is not None:
        row = None
        if summary.fatal is None:
            summary.fatal, summary.stopped_by = done.fatal, "unavailable"
    elif done.error is not None:
        row = {"id": task.id, "error": done.error.message, "status": int(done.error.status)}
        summary.failed += 1
        summary.failing += 1
        if summary.failing >= FAILURES_IN_A_ROW and summary.stopped_by is None:
            summary.stopped_by, summary.fatal = "failures", done.error
    elif row is not None:
        summary.answered += 1
        summary.failing = 0
    if row is not None or done.error is not None:
        sink.emit(RowFinished(task.id, done.error is None, done.usage, done.cost, done.local,
                              done.error.message if done.error else None))
    for out in (order.add(task.position, row) if order is not None else [row] if row is not None else []):
        write(out)
