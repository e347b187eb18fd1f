"""Who runs now and who waits: the queue in front of the model.

Each run (a request with ``n`` asks for n runs) takes one of ``concurrency``
slots; runs beyond that wait in a queue of at most ``max_queue``. A request
whose runs would overflow the queue is turned away with a 429 at once rather
than left to time out. Lives on the server's event loop; not thread-safe.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from thinkcli.serve.errors import queue_full


class Ticket:
    """A request's reserved places in the queue; places never taken are given back on release."""

    def __init__(self, admission: Admission, runs: int) -> None:
        self.admission = admission
        self.unused = runs

    @asynccontextmanager
    async def slot(self):
        adm = self.admission
        self.unused -= 1
        try:
            async with adm._free:
                await adm._free.wait_for(lambda: adm.active < adm.concurrency)
                adm.active += 1
        finally:
            adm.waiting -= 1
        try:
            yield
        finally:
            async with adm._free:
                adm.active -= 1
                adm._free.notify()

    def release(self) -> None:
        self.admission.waiting -= self.unused
        self.unused = 0


class Admission:
    def __init__(self, concurrency: int, max_queue: int) -> None:
        self.concurrency = max(1, concurrency)
        self.max_queue = max(0, max_queue)
        self.active = 0
        self.waiting = 0  # runs reserved or queued, not yet running
        self._free = asyncio.Condition()

    def reserve(self, runs: int) -> Ticket:
        """Places for ``runs`` runs, or a 429 when they would not fit in the free slots plus the queue."""
        if self.active + self.waiting + runs - self.concurrency > self.max_queue:
            raise queue_full(self.max_queue)
        self.waiting += runs
        return Ticket(self, runs)

    @property
    def in_flight(self) -> int:
        return self.active + self.waiting
