"""The remote backend: any OpenAI-compatible server (hosted API, vLLM, Ollama, llama.cpp) over httpx.

Owns the backend itself: request bodies for /chat/completions and /completions,
streaming (or whole answers, when no one reads the tokens as they come:
``GenParams.stream``), the capabilities (log-probs, the /apply-template probe), the
base URL and settings a model reference turns into, and the event-loop thread.
Requests run as asyncio tasks on one event-loop thread per backend; ``generate()``
hands their events to the caller as they arrive, and closing it (or Ctrl-C)
cancels what is in flight, or a deadline ends it. How a call's samples are drawn
(``n`` or up to ``parallel`` concurrent requests, what the server is seen to do)
is ``fanout.py``; one request with its retries is ``wire.py``.
Imported only when a remote model is used, so ``think --help`` never loads httpx.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import queue
import random
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from thinkcli.backends import retries
from thinkcli.backends.base import (
    BackendSpec,
    GenParams,
    Message,
    estimate_tokens,
    register_backend,
)
from thinkcli.backends.fanout import FanOut, recall
from thinkcli.backends.wire import Job, Wire
from thinkcli.errors import BackendError, CallCancelled, DeadlineReached, ThinkError, UsageError
from thinkcli.events import Event
from thinkcli.keys import DEFAULT_BASE_URL, KeyChoice
from thinkcli.signals import TOP_K

_END = object()
COMPLETIONS_TOP_K = 5  # the most OpenAI's /completions returns


def _positive(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _watch(params: GenParams) -> tuple[int, float | None]:
    """The DeepConf window and online-stop threshold a call's stream is watched with."""
    return params.window, params.confidence_stop if params.logprobs else None


class RemoteCapabilities:
    """Capabilities learned from the server as the run goes (template endpoint, log-probs)."""

    stream = True
    batch = True
    local = False
    tools = True

    def __init__(self, backend: OpenAIBackend) -> None:
        self._backend = backend

    @property
    def logprobs(self) -> bool:
        return self._backend.logprobs_ok

    @property
    def raw_completion(self) -> bool:  # only strategies that continue raw text ask, so only they probe
        return self._backend.has_template()


class OpenAIBackend(FanOut):  # FanOut (fanout.py): how a call's samples are drawn
    thread_safe = True  # requests from many threads share one event loop: a batch runs questions at once

    def __init__(
        self,
        name: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        key: KeyChoice | None = None,
        display: str = "",
        transport: httpx.AsyncBaseTransport | None = None,
        parallel: int | None = None,
        max_retries: int = 4,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        sleep=None,
        rng: random.Random | None = None,
        remember: bool = False,
    ) -> None:
        self.name = name  # what the server calls the model
        self.model = display or name
        self.wire = Wire(
            name, base_url, key, transport=transport, max_retries=max_retries,
            connect_timeout=connect_timeout, read_timeout=read_timeout, sleep=sleep, rng=rng,
        )
        self.base_url = self.wire.base_url
        self.where = self.wire.where
        self.parallel = max(1, parallel) if parallel is not None else None  # None: chosen from the server
        self.remember = remember  # keep what is learned about the server in servers.json
        facts = recall(self.wire.base_url) if remember else {}
        self.n_supported: bool | None = facts.get("n")
        self.concurrency: int | None = _positive(facts.get("concurrency"))  # requests it was seen to serve at once
        self._loop_lock = threading.Lock()
        self._template: bool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.capabilities = RemoteCapabilities(self)
        self.context_size = None

    # -- the event-loop thread ---------------------------------------------------

    def _submit(self, coro):
        with self._loop_lock:  # a batch calls from many threads: they must share one loop
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._loop.run_forever, name="think-http", daemon=True)
                self._thread.start()
            loop = self._loop
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def _call(self, coro, timeout: float | None = None):
        return self._submit(coro).result(timeout)

    async def _shutdown(self) -> None:
        """Cancel whatever still runs on the loop and wait for it, then close the client:
        a task left pending when the loop closes is reported as "Task was destroyed"."""
        me = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not me]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await self.wire.aclose()

    @property
    def logprobs_ok(self) -> bool:
        return self.wire.logprobs_ok

    def close(self) -> None:
        if self._loop is None:
            return
        try:
            self._call(self._shutdown(), timeout=3)
        except Exception:  # closing a broken connection must not hide the run's result
            pass
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=2)
        if not self._loop.is_running():
            self._loop.close()
        self._loop = None

    # -- the Backend protocol ------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def generate(self, messages: list[Message], params: GenParams, n: int = 1) -> Iterator[Event]:
        body = {"messages": messages, **self._body(params, chat=True)}
        text = "\n".join(m.get("content") or "" for m in messages)
        return self._events(Job("chat/completions", body, text, n, True, params.seed, None, *_watch(params)), params)

    def complete(self, prompt: str, params: GenParams, n: int = 1) -> Iterator[Event]:
        body = {"prompt": prompt, **self._body(params, chat=False)}
        return self._events(Job("completions", body, prompt, n, False, params.seed, None, *_watch(params)), params)

    def has_template(self) -> bool:
        """Whether the server renders chat templates (llama.cpp's /apply-template); probed once."""
        if self._template is None:
            try:
                self.chat_prompt([{"role": "user", "content": "hi"}], probing=True)
                self._template = True
            except ThinkError:
                self._template = False
        return self._template

    def chat_prompt(self, messages: list[Message], probing: bool = False) -> str:
        if self._template is False and not probing:
            raise self._no_template()
        root = self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url

        async def ask():
            try:
                resp = await self.wire.client().post(
                    root + "/apply-template", json={"messages": messages},
                    headers=self.wire.headers(keyed=root == self.base_url),  # a key never leaves its base URL
                )
            except httpx.HTTPError as exc:
                raise BackendError(f"cannot reach {self.where} ({retries.describe(exc)})") from None
            if resp.status_code != 200:
                raise self._no_template()
            try:
                return resp.json()["prompt"]
            except (ValueError, KeyError, TypeError):
                raise self._no_template() from None

        future = self._submit(ask())
        try:  # bounded like any read: a server that never answers must not hang the run
            return future.result(self.wire.connect_timeout + self.wire.read_timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise BackendError(f"{self.where} sent nothing for {self.wire.read_timeout:g} s (read timeout)") from None

    def _no_template(self) -> ThinkError:
        return ThinkError(
            f"the server at {self.where} offers no chat template endpoint (/apply-template), so model "
            f"{self.model} cannot continue raw text; use a llama.cpp server or a local GGUF model"
        )

    def _body(self, params: GenParams, chat: bool) -> dict[str, Any]:
        stream = params.stream or (params.logprobs and params.confidence_stop is not None)  # DeepConf stops mid-answer
        body: dict[str, Any] = {
            "model": self.name,
            "stream": stream,
            **({"stream_options": {"include_usage": True}} if stream else {}),
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.seed is not None:
            body["seed"] = params.seed
        if params.stop:
            body["stop"] = list(params.stop)
        if params.logprobs:  # top-k lists give the DeepConf and (approximate) self-certainty signals
            body["logprobs"] = True if chat else COMPLETIONS_TOP_K  # chat takes a flag, completions a count
            if chat:
                body["top_logprobs"] = TOP_K
        if params.tools and chat:
            body["tools"] = list(params.tools)
            if params.tool_choice is not None:
                body["tool_choice"] = params.tool_choice
        return body

    # -- one call: events out as they arrive ------------------------------------------

    def _events(self, job: Job, params: GenParams) -> Iterator[Event]:
        deadline, cancel = params.deadline, params.cancel
        inbox: queue.SimpleQueue = queue.SimpleQueue()
        job.emit = inbox.put
        finished = threading.Event()
        future = self._submit(self._draw(job, finished))
        future.add_done_callback(lambda _: inbox.put(_END))
        try:
            while True:
                if deadline is not None and time.monotonic() >= deadline:
                    # A server that never answers, or sends keep-alives forever, ends here;
                    # leaving cancels the requests in flight.
                    raise DeadlineReached()
                if cancel is not None and cancel.is_set():  # a whole answer sends no token to stop at
                    raise CallCancelled()
                try:
                    item = inbox.get(timeout=0.1)  # a timeout keeps Ctrl-C and the deadline deliverable
                except queue.Empty:
                    continue
                if item is _END:
                    break
                yield item
            future.result()  # raises the call's error, if any
        finally:
            if not future.done():
                future.cancel()
                finished.wait(2.0)  # let cancelled requests close their connections

    async def _draw(self, job: Job, finished: threading.Event) -> None:
        try:
            await self._draw_all(job)
        finally:
            finished.set()


def base_url_for(ref, settings: dict, environ=None) -> str:
    """A provider's own URL; else --base-url / THINK_BASE_URL / config; else OPENAI_BASE_URL; else OpenAI."""
    environ = os.environ if environ is None else environ
    url = (ref.options or {}).get("base_url") or settings.get("base_url") or environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    if not url.lower().startswith(("http://", "https://")):
        raise UsageError(f"base URL {retries.public_url(url)!r} must start with http:// or https://; check --base-url")
    return url.rstrip("/")


def _factory(ref, settings: dict) -> OpenAIBackend:
    from thinkcli.keys import choose_key

    url = base_url_for(ref, settings)
    parallel = settings.get("parallel")  # None: chosen from what the server is seen to do
    if parallel is not None and parallel < 1:
        raise UsageError(f"--parallel must be at least 1, not {parallel}")
    return OpenAIBackend(
        ref.name,
        url,
        key=choose_key(ref.scheme, url, ref.options or {}),
        display=ref.display,
        parallel=parallel,
        max_retries=settings.get("max_retries") if settings.get("max_retries") is not None else 4,
        connect_timeout=settings.get("connect_timeout") or 10.0,
        read_timeout=settings.get("read_timeout") or 120.0,
        remember=True,
    )


register_backend(BackendSpec("openai", _factory, "OpenAI-compatible servers over HTTP (hosted APIs, vLLM, Ollama, llama.cpp)"))
