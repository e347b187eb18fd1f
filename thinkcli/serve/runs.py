"""Library runs on worker threads, their events handed to the server's event loop.

The library face is synchronous; each run gets a daemon thread that calls
``thinkcli.run`` and posts ``(index, item)`` to an asyncio queue, where the item
is an event (the last is ``Final``), the exception that ended the run, or
``DONE``. Setting a run's ``cancel`` stops it as Ctrl-C stops the CLI (the result
keeps the best answer so far); its slot is only given back once its thread has
finished, so a local model never runs two requests at once.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

DONE = object()


class Run:
    def __init__(self, index: int, start: Callable[[threading.Event, Callable], object], outbox: asyncio.Queue) -> None:
        self.index = index
        self.start_fn = start
        self.outbox = outbox
        self.cancel = threading.Event()
        self.loop = asyncio.get_running_loop()
        self.finished = asyncio.Event()
        self.thread: threading.Thread | None = None

    def _post(self, item) -> None:
        try:
            self.loop.call_soon_threadsafe(self.outbox.put_nowait, (self.index, item))
        except RuntimeError:  # the loop is gone (server shut down): nobody is listening
            pass

    def _work(self) -> None:
        try:
            self.start_fn(self.cancel, self._post)  # the face emits Final(result) last
        except BaseException as exc:  # handed to the loop, which answers with an error object
            self._post(exc)
        finally:
            self._post(DONE)
            try:
                self.loop.call_soon_threadsafe(self.finished.set)
            except RuntimeError:
                pass

    async def run(self, ticket) -> None:
        """Wait for a slot, run to the end; a cancelled waiter still holds the slot until the thread ends."""
        async with ticket.slot():
            if self.cancel.is_set():
                self._post(DONE)
                return
            self.thread = threading.Thread(target=self._work, name=f"think-run-{self.index}", daemon=True)
            self.thread.start()
            try:
                await asyncio.shield(self.finished.wait())
            except asyncio.CancelledError:
                self.cancel.set()
                await asyncio.shield(self.finished.wait())
                raise
