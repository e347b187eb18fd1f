"""One request to an OpenAI-compatible server: the POST with its retries, and the stream decoded.

Owns the wire: headers (the key goes only to this base URL), optional fields a
server rejected, retry and backoff on 429/5xx and transport failures, the
one-line errors for what cannot be retried, and SSE chunks turned into Token
events and finished Generations.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from thinkcli.backends import chunks, pool, retries
from thinkcli.backends.sse import SSEParser
from thinkcli.errors import BackendError, ModelUnavailable, ThinkError, UsageError
from thinkcli.events import Generation, Retry, Usage
from thinkcli.keys import KeyChoice


class RequestRejected(BackendError):
    """A 4xx answer: retrying cannot help, so every sample of the call stops."""


class StreamError(Exception):
    """The stream said something that cannot be used (an error object, a bad index)."""


@dataclass
class Job:
    path: str  # 'chat/completions' | 'completions'
    body: dict[str, Any]
    prompt_text: str
    n: int
    chat: bool
    seed: int | None
    emit: Any = None  # callable(Event), thread-safe
    window: int = 16  # tokens per DeepConf group (GenParams.window)
    stop_below: float | None = None  # DeepConf online: stop reading a choice whose group confidence falls below


class _Enough(Exception):
    """Every choice of the stream is settled (ended, or stopped for low confidence): stop reading."""


@dataclass
class Streamed:
    gens: dict[int, Generation]  # finished samples
    fault: str | None = None  # why the stream broke, if it did
    unfinished: list[chunks.Choice] = field(default_factory=list)


@dataclass
class Limits:
    """What one response may hold on the client side, whatever the server does with max_tokens."""

    pieces: int  # streamed deltas per choice
    bytes: int  # characters of the whole response

    @classmethod
    def of(cls, body: dict, n: int) -> Limits:
        """A server may split a token over deltas, so the cap has slack; bytes allow verbose chunks.

        >>> Limits.of({"max_tokens": 100}, 2)
        Limits(pieces=216, bytes=2818048)
        """
        tokens = body.get("max_tokens") or body.get("max_completion_tokens") or 4096
        pieces = 2 * int(tokens) + 16
        return cls(pieces, pieces * max(n, 1) * 4096 + (1 << 20))

    def all_full(self, choices: dict) -> bool:
        return bool(choices) and all(c.pieces >= self.pieces for c in choices.values())

    def cut(self, choices: dict, state: dict) -> None:
        """End the response here as if the server had stopped at the length limit."""
        for c in choices.values():
            c.finish_reason = c.finish_reason or "length"
        state["done"] = True


async def _read_capped(resp: httpx.Response, limit: int) -> bytes:
    """A non-streamed body, refused past ``limit`` bytes rather than read to the end."""
    data = bytearray()
    async for piece in resp.aiter_bytes():
        data += piece
        if len(data) > limit:
            raise StreamError(f"the answer is larger than {limit} bytes")
    return bytes(data)


class Wire:
    def __init__(
        self,
        model: str,
        base_url: str,
        key: KeyChoice | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        max_retries: int = 4,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        sleep=None,
        rng: random.Random | None = None,
    ) -> None:
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.where = retries.public_url(self.base_url)
        self._key = key.secret if key else None
        self._hint = key.hint if key else "run `think keys set NAME`"
        self.max_retries = max(0, max_retries)
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self._timeout = httpx.Timeout(connect_timeout, read=read_timeout, write=read_timeout, pool=None)
        self._transport = transport
        self.sleep = sleep or asyncio.sleep
        self.rng = rng or random.Random()
        self.dropped: set[str] = set()  # optional fields this server rejected
        self.renamed: dict[str, str] = {}  # fields this server wants under another name
        self.logprobs_ok = True  # until a server ignores or rejects the request for them
        self._connections: pool.Connections | None = None

    def connections(self) -> pool.Connections:
        if self._connections is None:  # made on the loop thread that uses it
            self._connections = pool.Connections(self._timeout, self._transport)
        return self._connections

    def client(self) -> httpx.AsyncClient:
        return self.connections().client

    async def aclose(self) -> None:
        if self._connections is not None:
            await self._connections.aclose()
            self._connections = None

    def headers(self, keyed: bool = True, stream: bool = True) -> dict[str, str]:
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        if self._key is not None and keyed:
            headers["Authorization"] = "Bearer " + self._key.reveal()
        return headers

    def secrets(self) -> tuple[str, ...]:
        return (self._key.reveal(),) if self._key is not None else ()

    async def stream(self, job: Job, indices: list[int], use_n: bool) -> Streamed:
        body = dict(job.body)
        if use_n:
            body["n"] = len(indices)
        elif job.seed is not None:
            body["seed"] = job.seed + indices[0]  # per-sample seeds: same seed, different samples
        resp = await self.open(job.path, body, job.emit)
        choices: dict[int, chunks.Choice] = {}
        limits = Limits.of(body, len(indices))
        state = {"usage": None, "done": False}
        fault = None
        try:
            if "text/event-stream" not in resp.headers.get("content-type", ""):
                raw = await _read_capped(resp, limits.bytes)
                self._take(json.loads(raw), job, indices, choices, state, limits)  # a server that ignores stream
                state["done"] = True
            else:
                parser = SSEParser()
                received, last_data = 0, time.monotonic()
                async for text in resp.aiter_text():
                    received += len(text)
                    events = parser.feed(text)
                    if events:
                        last_data = time.monotonic()
                    elif time.monotonic() - last_data > self.read_timeout:
                        raise httpx.ReadTimeout("only keep-alive comments")  # they reset httpx's timer, not ours
                    for event in events:
                        self._on_event(event.data, job, indices, choices, state, limits)
                    if received > limits.bytes or limits.all_full(choices):
                        limits.cut(choices, state)  # a server ignoring max_tokens: stop reading
                        break
                else:
                    for event in parser.flush():
                        self._on_event(event.data, job, indices, choices, state, limits)
        except _Enough:
            state["done"] = True
        except (ValueError, TypeError, KeyError, AttributeError):
            fault = "malformed data in the stream"
        except StreamError as exc:
            fault = str(exc)
        except httpx.TimeoutException:
            fault = f"no data for {self.read_timeout:g} s mid-stream"
        except httpx.TransportError:
            fault = "stream cut mid-answer"
        finally:
            await resp.aclose()
        for c in choices.values():
            for token in c.close():
                job.emit(token)
        if fault is None and not choices:
            fault = "the server returned no choices"
        elif fault is None and not state["done"] and any(c.finish_reason is None for c in choices.values()):
            fault = "stream cut mid-answer"
        ended = [c for c in choices.values() if fault is None or c.finish_reason is not None]
        return Streamed(self._finish(job, ended, state["usage"]), fault, [c for c in choices.values() if c not in ended])

    def _on_event(self, data: str, job: Job, indices, choices, state, limits: Limits) -> None:
        if data.strip() == "[DONE]":
            state["done"] = True
            return
        chunk = json.loads(data)
        if not isinstance(chunk, dict):
            raise StreamError("malformed data in the stream")
        if chunk.get("error"):
            message = retries.server_message(json.dumps(chunk).encode(), self.secrets())
            raise StreamError(f"server error mid-stream: {message}")
        self._take(chunk, job, indices, choices, state, limits)

    def _take(self, chunk: dict, job: Job, indices, choices, state, limits: Limits) -> None:
        usage = chunks.parse_usage(chunk.get("usage"))
        if usage is not None:
            state["usage"] = usage
        for raw in chunk.get("choices") or []:
            index = raw.get("index", 0)
            if not isinstance(index, int) or not 0 <= index < len(indices):
                raise StreamError(f"choice index {index!r} out of range")
            c = choices.setdefault(index, chunks.Choice(indices[index]))
            if c.pieces >= limits.pieces:
                continue  # past max_tokens (with slack): whatever more this choice says is dropped
            if c.finish_reason == chunks.LOW_CONFIDENCE:
                continue  # stopped by DeepConf online: the rest of it is not read
            for kind, piece in chunks.choice_deltas(raw, job.chat):
                for token in c.add(piece, kind):
                    job.emit(token)
            for item in chunks.tool_call_items(raw) if job.chat else ():
                call = c.add_call(item)
                if call is not None:
                    job.emit(call)
            c.add_logprobs(raw)
            if raw.get("finish_reason"):
                c.finish_reason = raw["finish_reason"]
            elif job.stop_below is not None:
                group = c.trace.group(job.window)
                if group is not None and group < job.stop_below:
                    c.finish_reason = chunks.LOW_CONFIDENCE
        settled = len(choices) == len(indices) and all(c.finish_reason for c in choices.values())
        if settled and any(c.finish_reason == chunks.LOW_CONFIDENCE for c in choices.values()):
            raise _Enough

    def _finish(self, job: Job, ended: list[chunks.Choice], usage: Usage | None) -> dict[int, Generation]:
        if not ended:
            return {}
        ended.sort(key=lambda c: c.sample)
        if usage is not None:  # one usage block covers every choice of the request
            shares = chunks.split_usage(usage, ended)
        else:
            shares = [chunks.estimated_usage(job.prompt_text, c, k > 0) for k, c in enumerate(ended)]
        if "logprobs" in job.body and all(not c.logprobs for c in ended):
            self.logprobs_ok = False  # asked and not given: scorers should not count on them
        return {c.sample: chunks.finish(c, u, window=job.window) for c, u in zip(ended, shares, strict=True)}

    async def open(self, path: str, body: dict, emit) -> httpx.Response:
        """POST until a 2xx answer: retry what may pass, raise what cannot."""
        connections = self.connections()
        url = f"{self.base_url}/{path}"
        attempt = 0
        while True:
            payload = {self.renamed.get(k, k): v for k, v in body.items() if k not in self.dropped}
            try:
                resp = await connections.post(url, payload, self.headers(stream=body.get("stream", True)))
            except (httpx.UnsupportedProtocol, httpx.InvalidURL, httpx.LocalProtocolError):
                raise UsageError(f"base URL {self.where} is not a usable http(s) URL; check --base-url") from None
            except httpx.TransportError as exc:
                reason = retries.describe(exc)
                if attempt >= self.max_retries:
                    raise self._gave_up(exc, reason, attempt) from None
                delay = retries.backoff(attempt, self.rng.random())
            else:
                if resp.status_code < 300:
                    return resp
                raw = await resp.aread()
                await resp.aclose()
                message = retries.server_message(raw, self.secrets())
                code = resp.status_code
                rename = retries.renamed_field(message, payload) if code in (400, 422) else None
                if rename:
                    self.renamed[rename[0]] = rename[1]
                    continue
                dropped = retries.rejected_field(message, payload) if code in (400, 422) else None
                if dropped:
                    self.dropped.add(dropped)  # a field this server does not take: ask again without it
                    self.logprobs_ok = self.logprobs_ok and dropped != "logprobs"
                    continue
                reason = retries.status_text(code, resp.reason_phrase)
                if code not in retries.RETRY_STATUS:
                    raise self._rejected(code, reason, message, path)
                wait = retries.retry_after(resp.headers.get("retry-after"))
                if attempt >= self.max_retries:
                    raise BackendError(
                        f"{self.where} kept answering {reason} after {attempt} retries; try again later or raise --max-retries"
                    )
                if wait is not None and wait > retries.RETRY_AFTER_MAX:
                    raise BackendError(f"{self.where} asks to retry in {wait:.0f} s ({reason}); try again later")
                delay = wait if wait is not None else retries.backoff(attempt, self.rng.random())
            emit(Retry(round(delay, 2), reason))
            await self.sleep(delay)
            attempt += 1

    def _gave_up(self, exc: Exception, reason: str, attempts: int) -> ThinkError:
        tries = f"after {attempts} retries" if attempts else "(retries are off)"
        if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
            return ModelUnavailable(
                f"cannot reach {self.where} ({reason}) {tries}; check --base-url and that the server is running"
            )
        if isinstance(exc, httpx.ReadTimeout):
            return BackendError(
                f"{self.where} sent nothing for {self.read_timeout:g} s (read timeout) {tries}; "
                "raise it with `think config set read_timeout SECONDS`"
            )
        return BackendError(f"{self.where} failed ({reason}) {tries}; try again or lower --parallel")

    def _rejected(self, code: int, reason: str, message: str, path: str) -> RequestRejected:
        detail = f": {message}" if message and code not in (401, 403) else ""
        if code == 401:
            needs = "rejected the API key" if self._key is not None else "needs an API key"
            return RequestRejected(f"{self.where} {needs} ({reason}); {self._hint}")
        if code == 403:
            return RequestRejected(f"{self.where} refused model {self.model} ({reason}); check the key's access to it")
        if code == 404:
            return RequestRejected(
                f"{self.where} has no /{path} or no model {self.model!r} ({reason}{detail}); "
                "check -m and --base-url (it usually ends in /v1)"
            )
        return RequestRejected(f"{self.where} rejected the request ({reason}{detail}); check -m and the flags")


