"""Answering one chat-completions call: runs in, a JSON reply or an SSE stream out.

``ChatResponse`` is an ASGI response that starts the call's runs, watches for the
client going away (which cancels them), and decides its HTTP status only when
the first thing worth sending exists, so an upstream that fails before
answering still gets a proper error status rather than a broken 200 stream.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from thinkcli import events
from thinkcli.errors import ThinkError
from thinkcli.serve import protocol
from thinkcli.serve.errors import APIError, from_think_error, internal
from thinkcli.serve.mapping import ChatCall
from thinkcli.serve.runs import DONE, Run

PING_S = 15.0  # an SSE comment this often keeps proxies from closing a quiet stream
QUIET = (events.Retry, events.Notice, events.Spend, events.Generation, events.Final)


class Resume:
    """Streams one sample's text; after a retried (broken) stream, skips the repeated prefix.

    >>> r = Resume(); r.take("Two"), r.take(" plus"); r.restart(); r.take("Two"), r.take(" plus two")
    ('Two', ' plus')
    ('', ' two')
    """

    def __init__(self) -> None:
        self.sent = ""
        self.replay: str | None = None

    def restart(self) -> None:
        if self.sent:
            self.replay = ""

    def take(self, text: str) -> str:
        if self.replay is None:
            self.sent += text
            return text
        self.replay += text
        if len(self.replay) <= len(self.sent):
            if not self.sent.startswith(self.replay):
                raise APIError(502, "the upstream stream broke mid-answer and its retry answered differently",
                               "upstream_error", code="upstream_failed")
            return ""
        if not self.replay.startswith(self.sent):
            raise APIError(502, "the upstream stream broke mid-answer and its retry answered differently",
                           "upstream_error", code="upstream_failed")
        new = self.replay[len(self.sent):]
        self.sent, self.replay = self.replay, None
        return new


class ChatResponse:
    def __init__(self, call: ChatCall, starts: list[Callable], ticket, registry: set,
                 on_done: Callable[[dict], None]) -> None:
        self.call = call
        self.starts = starts
        self.ticket = ticket
        self.registry = registry  # the server's live runs, cancelled together at shutdown
        self.on_done = on_done  # gets the access-log record
        self.record: dict[str, Any] = {"status": 0, "usage": None, "cost": None, "results": []}
        self.cid = protocol.completion_id()
        self.created = int(time.time())

    # -- ASGI ---------------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        outbox: asyncio.Queue = asyncio.Queue()
        runs = [Run(i, start, outbox) for i, start in enumerate(self.starts)]
        self.registry.update(runs)
        tasks = [asyncio.ensure_future(r.run(self.ticket)) for r in runs]
        listener = asyncio.ensure_future(_disconnect(receive))
        answer = asyncio.ensure_future(self._stream(send, outbox, len(runs)) if self.call.stream
                                       else self._whole(send, outbox, len(runs)))
        try:
            await asyncio.wait({answer, listener}, return_when=asyncio.FIRST_COMPLETED)
            gone = not answer.done()
            if gone:  # the client went away: stop its runs
                # The runs are told directly: a cancel of the answer task can be lost when it lands
                # just as asyncio.wait_for's get completes (Python < 3.12), and then the runs would
                # go on to the end of their budget for nobody.
                for run in runs:
                    run.cancel.set()
                answer.cancel()
            [outcome] = await asyncio.gather(answer, return_exceptions=True)
            if isinstance(outcome, Exception):  # a bug, not a failed run: say so in the server log
                traceback.print_exception(type(outcome), outcome, outcome.__traceback__, file=sys.stderr)
                self.record["status"] = self.record["status"] or 500
            elif gone:
                self.record["status"] = 499
        finally:
            for run in runs:
                run.cancel.set()
                self.registry.discard(run)
            listener.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.ticket.release()
            self.on_done(self.record)

    # -- non-streaming --------------------------------------------------------------------

    async def _whole(self, send, outbox: asyncio.Queue, count: int) -> None:
        results: dict[int, Any] = {}
        calls: dict[int, dict[int, dict]] = {i: {} for i in range(count)}
        try:
            async for index, item in _items(outbox, count, ping=None):
                if isinstance(item, events.Final):
                    results[index] = item.result
                elif isinstance(item, events.ToolCall):
                    _merge_call(calls[index], item)
            ordered = _in_order(results, count)
        except APIError as exc:
            return await self._error(send, exc)
        tool_calls = [[calls[i][k] for k in sorted(calls[i])] for i in range(count)]
        usage = self._account(ordered)
        texts = [protocol.chosen_text(r) for r in ordered]
        finishes = ["tool_calls" if tool_calls[i] else protocol.finish_reason(r) for i, r in enumerate(ordered)]
        doc = protocol.completion(self.cid, self.call.name, texts, finishes, usage, self._think(ordered),
                                  tool_calls if any(tool_calls) else None)
        await _send_json(send, 200, doc)
        self.record["status"] = 200

    # -- streaming ------------------------------------------------------------------------

    async def _stream(self, send, outbox: asyncio.Queue, count: int) -> None:
        started = False
        results: dict[int, Any] = {}
        resumes = {i: Resume() for i in range(count)}
        called = {i: False for i in range(count)}
        try:
            async for index, item in _items(outbox, count, ping=PING_S):
                if item is None:  # quiet for a while: a comment keeps the connection open
                    if started:
                        await _send(send, b": ping\n\n")
                    continue
                chunks = self._chunks(index, item, resumes[index], called)
                if isinstance(item, events.Final):
                    results[index] = item.result
                if not chunks:
                    continue
                if not started:
                    started = True
                    await self._start(send, count)
                for doc in chunks:
                    await _send(send, _sse(doc))
            ordered = _in_order(results, count)
        except APIError as exc:
            if not started:
                return await self._error(send, exc)
            await _send(send, _sse(exc.body()))  # headers are gone: the error travels in the stream
            self.record["status"] = exc.status
            return await _send(send, b"data: [DONE]\n\n", more=False)
        usage = self._account(ordered)
        if not started:
            await self._start(send, count)
        if self.call.include_usage:
            await _send(send, _sse(protocol.usage_chunk(self.cid, self.created, self.call.name, usage,
                                                        self._think(ordered))))
        await _send(send, b"data: [DONE]\n\n", more=False)
        self.record["status"] = 200

    async def _start(self, send, count: int) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no")]})
        for i in range(count):
            await _send(send, _sse(self._chunk(i, {"role": "assistant", "content": ""})))

    def _chunks(self, index: int, item, resume: Resume, called: dict[int, bool]) -> list[dict]:
        """The chunks one event becomes: tokens at effort low, progress lines at scaled efforts,
        the selected answer and the finish when a run ends."""
        low = self.call.effort == "low"
        if isinstance(item, events.Retry):
            resume.restart()
            return []
        if isinstance(item, events.ToolCall):
            called[index] = True
            return [self._chunk(index, {"tool_calls": [_tool_delta(item)]})]
        if isinstance(item, events.Token) and low:
            text = resume.take(item.text)
            field = "reasoning_content" if item.kind == "reasoning" else "content"
            return [self._chunk(index, {field: text})] if text else []
        if isinstance(item, events.Final):
            result = item.result
            out = []
            if not low:
                out.append(self._chunk(index, {"content": protocol.chosen_text(result)}))
            finish = "tool_calls" if called[index] else protocol.finish_reason(result)
            out.append(self._chunk(index, None, finish, think=protocol.run_info(result)))
            return out
        if not low:
            line = protocol.progress_line(item)
            if line:
                return [self._chunk(index, {"reasoning_content": line})]
        return []

    def _chunk(self, index: int, delta: dict | None, finish: str | None = None, **extra) -> dict:
        return protocol.chunk(self.cid, self.created, self.call.name, index, delta, finish, **extra)

    # -- shared -----------------------------------------------------------------------------

    def _account(self, results: list[Any]) -> dict[str, Any]:
        usage = None
        for r in results:
            usage = protocol.add_usage(usage, r.usage)
        costs = [r.cost_usd for r in results]
        self.record.update(usage=usage, cost=None if None in costs else sum(costs), results=results)
        return usage

    def _think(self, results: list[Any]) -> dict[str, Any]:
        model = results[0].model if results else self.call.served
        return protocol.think_field(self.call.effort, model, results, self.call.notes)

    async def _error(self, send, exc: APIError) -> None:
        self.record["status"] = exc.status
        await _send_json(send, exc.status, exc.body(), exc.headers)


async def _items(outbox: asyncio.Queue, count: int, ping: float | None):
    """(index, event) until every run is done; a run's exception is raised as an APIError;
    with ``ping``, (None, None) after that many quiet seconds."""
    done = 0
    while done < count:
        if ping is None:
            index, item = await outbox.get()
        else:
            try:
                index, item = await asyncio.wait_for(outbox.get(), ping)
            except asyncio.TimeoutError:
                yield None, None
                continue
        if item is DONE:
            done += 1
        elif isinstance(item, APIError):
            raise item
        elif isinstance(item, ThinkError):
            raise from_think_error(item)
        elif isinstance(item, BaseException):
            print(f"think serve: run failed: {type(item).__name__}: {item}", file=sys.stderr)
            raise internal(item)
        else:
            yield index, item


def _in_order(results: dict[int, Any], count: int) -> list[Any]:
    """Every run's result by index; a run cancelled before it started (the server is stopping) has none."""
    if len(results) < count:
        raise APIError(503, "the server is stopping; the run was cancelled before it started, retry",
                       "server_error", code="shutting_down", headers={"Retry-After": "1"})
    return [results[i] for i in range(count)]


def _merge_call(calls: dict[int, dict], delta: events.ToolCall) -> None:
    call = calls.setdefault(delta.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
    call["id"] = delta.id or call["id"]
    call["function"]["name"] += delta.name or ""
    call["function"]["arguments"] += delta.arguments or ""


def _tool_delta(delta: events.ToolCall) -> dict:
    out: dict[str, Any] = {"index": delta.index}
    if delta.id:
        out["id"] = delta.id
        out["type"] = "function"
    fn = {}
    if delta.name:
        fn["name"] = delta.name
    if delta.arguments:
        fn["arguments"] = delta.arguments
    out["function"] = fn
    return out


async def _disconnect(receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def _sse(doc: dict) -> bytes:
    return b"data: " + json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


async def _send(send, data: bytes, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


async def _send_json(send, status: int, doc: dict, headers: dict[str, str] | None = None) -> None:
    data = json.dumps(doc, ensure_ascii=False).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    head += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": head})
    await _send(send, data, more=False)
