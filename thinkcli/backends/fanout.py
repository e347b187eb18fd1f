"""Drawing one call's samples from a server, and learning how the server serves them.

Owns the fan-out: all samples in one request with ``n`` when the server honours
it, else one request per sample with up to ``fan_out()`` in flight; a broken
stream retried once, a lost sample marked while the others answer. Also owns
what is learned on the way (whether ``n`` is honoured, how many requests the
server works on at once) and its memory across runs in ``servers.json``.
``FanOut`` is a part of ``OpenAIBackend``; the requests themselves go through
``wire.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from dataclasses import replace

from thinkcli.backends import chunks, retries
from thinkcli.backends.wire import Job, RequestRejected, Wire
from thinkcli.errors import BackendError, ThinkError
from thinkcli.events import Generation, Retry, Usage

AUTO_PARALLEL = 64  # samples sent at once to a server that ignores n, until it is seen to serve fewer


class SampleFailed(Exception):
    """One sample is lost for good; the call goes on while other samples survive."""

    def __init__(self, sample: int, error: ThinkError, wasted: Usage) -> None:
        super().__init__(sample)
        self.sample, self.error, self.wasted = sample, error, wasted


class FanOut:
    """The sample-drawing half of ``OpenAIBackend``, over the attributes it sets up."""

    wire: Wire
    where: str
    base_url: str
    parallel: int | None  # --parallel; None: chosen from what the server is seen to do
    n_supported: bool | None
    concurrency: int | None
    remember: bool  # keep what is learned in servers.json

    async def _draw_all(self, job: Job) -> None:
        done: dict[int, Generation] = {}
        if job.n > 1 and self.n_supported is not False and "n" not in self.wire.dropped:
            got = await self.wire.stream(job, list(range(job.n)), use_n=True)
            for gen in got.gens.values():
                done[gen.sample] = gen
                job.emit(gen)
            if got.fault is None:  # a whole answer with fewer choices: the server ignores n
                self._learn_n(len(got.gens) == job.n and "n" not in self.wire.dropped)
        missing = [i for i in range(job.n) if i not in done]
        failures: list[SampleFailed] = []
        if missing:
            width = self.fan_out(len(missing))
            gate = asyncio.Semaphore(width)
            spans: dict[int, list[float]] = {}  # sample -> [first token, end], seconds since the fan-out
            tasks = [asyncio.ensure_future(self._single(job, i, gate, spans)) for i in missing]
            try:
                for next_done in asyncio.as_completed(tasks):
                    try:
                        gen = await next_done
                    except SampleFailed as failed:
                        failures.append(failed)
                        continue
                    done[gen.sample] = gen
                if len(missing) > 1 and not failures and self.parallel is None:  # the first `width` went together
                    self._learn_concurrency(served_at_once(list(spans.values())), min(width, len(missing)))
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        if failures and not done:
            raise failures[0].error
        for failed in sorted(failures, key=lambda f: f.sample):  # survivors answer; the lost are marked
            job.emit(Generation(failed.sample, "", failed.wasted, finish_reason="error"))

    def fan_out(self, samples: int) -> int:
        """How many of a call's samples go at once when the server ignores n: --parallel when set,
        else all of them (up to AUTO_PARALLEL), or one more than the server was seen to serve at
        once (the one more queues, and shows when the server has grown)."""
        if self.parallel is not None:
            return self.parallel
        return max(1, min(samples, self.concurrency + 1 if self.concurrency else AUTO_PARALLEL))

    def _learn_concurrency(self, seen: int, sent: int) -> None:
        """Fewer served at once than were sent is the server's limit; all of them sets none."""
        limit = seen if seen < sent else None
        if limit is not None and (self.concurrency is None or limit > self.concurrency):
            self.concurrency = limit
            if self.remember:
                remember(self.base_url, concurrency=limit)
        elif limit is None and self.concurrency is not None and sent > self.concurrency:
            self.concurrency = None  # it served more than the remembered limit: that limit is gone
            if self.remember:
                remember(self.base_url, concurrency=None)

    def _learn_n(self, supported: bool) -> None:
        if supported != self.n_supported and self.remember:
            remember(self.base_url, n=supported)  # the next run skips the probe
        self.n_supported = supported

    async def _single(self, job: Job, i: int, gate: asyncio.Semaphore, spans: dict[int, list[float]]) -> Generation:
        """One sample in its own request; a broken stream is retried once. ``spans`` gets when
        its first token and its end arrived, which tells how many requests the server serves at once."""
        wasted = Usage()
        start = time.monotonic()

        def emit(event) -> None:
            if i not in spans:
                spans[i] = [time.monotonic() - start, 0.0]
            job.emit(event)

        mine = replace(job, emit=emit)
        async with gate:
            for attempt in range(2):
                try:
                    got = await self.wire.stream(mine, [i], use_n=False)
                except RequestRejected:
                    raise
                except ThinkError as exc:
                    raise SampleFailed(i, exc, wasted) from None
                if got.fault is None and i in got.gens:
                    gen = got.gens[i]
                    gen.usage = gen.usage + wasted
                    spans.setdefault(i, [time.monotonic() - start, 0.0])[1] = time.monotonic() - start
                    job.emit(gen)
                    return gen
                for c in got.unfinished:  # the broken attempt's tokens were produced, and billed
                    wasted = wasted + chunks.estimated_usage("", c, prompt_counted=True)
                if attempt == 0:
                    delay = retries.backoff(0, self.wire.rng.random())
                    job.emit(Retry(round(delay, 2), got.fault or "broken stream"))
                    await self.wire.sleep(delay)
        raise SampleFailed(
            i, BackendError(f"{self.where} broke the stream twice ({got.fault}); try again or lower --parallel"), wasted
        )


def served_at_once(spans: list[list[float]], slack: float = 0.1, grace: float = 0.05) -> int:
    """How many requests, all sent at once, the server worked on together: those whose first
    token came before the first of them ended (plus ``slack`` of that time and ``grace``
    seconds, for a server that sends a whole answer at once and for thread scheduling).
    A server that queues starts the next only as one ends. Errs high, never low: too many
    requests only queue, too few would serialise a concurrent server.

    >>> served_at_once([[0.1, 2.0], [0.12, 2.5], [0.1, 1.5]])           # all stream together
    3
    >>> served_at_once([[0.1, 1.0], [1.2, 2.1], [2.3, 3.2], [3.4, 4.3]])  # one at a time
    1
    >>> served_at_once([[1.0, 1.0], [1.01, 1.01], [2.0, 2.0], [2.02, 2.02]])  # two slots
    2
    """
    ends = [end for _, end in spans if end > 0]
    if not ends:
        return len(spans)
    limit = min(ends) * (1 + slack) + grace
    return sum(1 for first, _ in spans if first <= limit)


def _memory_path():
    from thinkcli.config import config_dir

    return config_dir() / "servers.json"


def recall(base_url: str) -> dict:
    """What earlier runs learned about the server at ``base_url`` (e.g. whether it honours n)."""
    try:
        facts = json.loads(_memory_path().read_text("utf-8")).get(base_url.rstrip("/"), {})
    except (OSError, ValueError, AttributeError):
        return {}
    return facts if isinstance(facts, dict) else {}


def remember(base_url: str, **facts) -> None:
    """Best effort: a read-only config dir only costs the next run a probe."""
    path = _memory_path()
    try:
        data = json.loads(path.read_text("utf-8")) if path.exists() else {}
        if not isinstance(data, dict):
            data = {}
        data.setdefault(base_url.rstrip("/"), {}).update(facts)
        path.parent.mkdir(parents=True, exist_ok=True)
        # one temp file per process and thread: concurrent runs, and a batch's threads, never share one
        tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True), "utf-8")
        tmp.replace(path)
    except (OSError, ValueError, AttributeError):
        pass
