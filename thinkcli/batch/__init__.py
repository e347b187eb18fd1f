"""`think batch`: many questions through the library face, K at a time, resumable, within batch-wide budgets.

``prepare`` reads and checks every row (a bad one is a usage error naming its
line, before anything runs) and skips the ids the output already answers;
``run_batch`` asks the rest on one loaded model and writes one row per question:
the document ``think --json`` prints, plus ``id``. A client of the library face
(``thinkcli.run``), like the command line and the server.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from thinkcli.batch.rows import Row, parse
from thinkcli.errors import UsageError
from thinkcli.events import BatchStarted, Sink
from thinkcli.jobs.budget import Ledger, Need
from thinkcli.jobs.output import Output
from thinkcli.jobs.runner import Done, Summary, Task, attempt, run_tasks

__all__ = ["Batch", "prepare", "run_batch", "parse", "Output", "Summary"]


@dataclass
class Batch:
    """A batch ready to run: its questions still to ask and how."""

    tasks: list[Task]
    skipped: int  # rows an earlier run answered
    options: dict[str, Any]  # ask options shared by every row (a row's own override them)
    settings: dict[str, Any] = field(default_factory=dict)


def prepare(rows: list[Row], name: str, options: dict[str, Any], backend, settings: dict[str, Any],
            done: set[str] = frozenset(), *, budgets: bool = False) -> Batch:
    """Check every row's options as ``think`` would (UsageError naming ``name:LINE``) and size its
    worst case when a batch-wide budget needs it. Rows whose id is in ``done`` are skipped."""
    import thinkcli
    from thinkcli.api import lookups_once

    tasks, skipped = [], 0
    with lookups_once():
        for row in rows:
            if row.key in done:
                skipped += 1
                continue
            opts = {**options, **row.options}
            try:
                if budgets:
                    usage, cost = thinkcli.worst_case(row.question, model=backend, settings=settings, **opts)
                    need = Need(usage.total_tokens, cost)
                else:
                    thinkcli.build_request(row.question, settings=settings, **opts)
                    need = Need(0)
            except UsageError as exc:
                raise UsageError(f"{name}:{row.line}: {exc.message}") from None
            tasks.append(Task(len(tasks), row.id, need, (row, opts)))
    return Batch(tasks, skipped, options, settings)


def run_batch(plan: Batch, backend, output: Output, *, concurrency: int = 16, ordered: bool = False,
              max_cost: float | None = None, max_total_tokens: int | None = None, sink: Sink | None = None,
              cancel: threading.Event | None = None) -> Summary:
    """Ask every planned question, K at a time on a remote model and one at a time on a local one."""
    import thinkcli

    cancel = cancel or threading.Event()
    if getattr(backend.capabilities, "local", False):
        concurrency = 1  # one llama.cpp context: questions take turns, each one's samples batched
    ledger = Ledger(max_cost=max_cost, max_tokens=max_total_tokens)

    def work(task: Task) -> Done:
        row, opts = task.payload
        return attempt(lambda: thinkcli.run(row.question, model=backend, cancel=cancel, settings=plan.settings,
                                            stream=False, **{**opts, **ledger.caps(task.need)}),
                       lambda result: {"id": row.id, **result.as_dict()})

    if sink is not None:
        sink.emit(BatchStarted(len(plan.tasks), plan.skipped, concurrency))
    from thinkcli.api import lookups_once

    with lookups_once():  # one model for every question: its profile and price are read once
        return run_tasks(plan.tasks, work, output.write, concurrency=concurrency, ledger=ledger, sink=sink,
                         cancel=cancel, ordered=ordered)
