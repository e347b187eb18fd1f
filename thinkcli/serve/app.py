"""The Starlette application: routes, the served models, the access log.

``/v1/chat/completions`` (JSON or SSE), ``/v1/models`` and ``/health``. Models
are loaded once, in the background, through the library face; until they are
ready chat requests get a 503. Every request leaves one access-log line on
stderr (never a key, never a prompt).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import thinkcli
from thinkcli.serve import auth, mapping
from thinkcli.serve.admission import Admission
from thinkcli.serve.errors import APIError, bad_request, loading
from thinkcli.serve.respond import ChatResponse


@dataclass
class Options:
    """What `think serve` was started with."""

    models: list[str | None] = field(default_factory=lambda: [None])  # references; None = the default model
    settings: dict[str, Any] = field(default_factory=dict)  # backend settings (base_url, retries, threads...)
    api_key: str | None = None
    max_queue: int = 32
    max_concurrency: int | None = None  # None: 1 for a local model, 16 for remote ones
    max_cost_per_request: float | None = None
    max_body: int = 4 * 1024 * 1024  # bytes
    grace: float = 30.0  # seconds in-flight runs may finish after SIGTERM before they are cancelled
    history: bool = True


class State:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.backends: dict[str, Any] = {}  # model id -> loaded backend
        self.aliases: dict[str | None, str] = {}  # reference as typed (None: default) -> model id
        self.default: str | None = None
        self.ready = False
        self.failure: BaseException | None = None  # why loading failed; the server then stops
        self.admission: Admission | None = None
        self.runs: set = set()  # live Runs, for the shutdown's cancel
        self.on_failure = None  # set by the server runner: stop serving

    # -- models -----------------------------------------------------------------------

    def load(self) -> None:
        """Load every model (in a thread: a GGUF takes seconds); then open for requests."""
        try:
            for ref in self.options.models:
                backend = thinkcli.load_model(ref, **self.options.settings)
                self.backends[backend.model] = backend
                self.aliases[ref] = backend.model
                self.default = self.default or backend.model
            local = any(getattr(b.capabilities, "local", False) for b in self.backends.values())
            limit = self.options.max_concurrency or (1 if local else 16)
            self.admission = Admission(limit, self.options.max_queue)
            self.ready = True
            names = ", ".join(self.backends)
            print(f"think serve: ready: {names} (concurrency {limit}, queue {self.options.max_queue})",
                  file=sys.stderr, flush=True)
        except BaseException as exc:  # reported by the server runner, which exits with its status
            self.failure = exc
            if self.on_failure:
                self.on_failure()

    def lookup(self, name: str | None) -> str | None:
        if name is None:
            return self.default
        if name in self.backends:
            return name
        return self.aliases.get(name)

    def model_ids(self) -> list[str]:
        ids = [mapping.PREFIX + e for e in mapping.EFFORTS]
        for model in self.backends:
            ids += [model] + [f"{mapping.PREFIX}{e}/{model}" for e in mapping.EFFORTS]
        return ids

    def close(self) -> None:
        for backend in self.backends.values():
            try:
                backend.close()
            except Exception:  # closing must not hide the shutdown
                pass

    # -- runs -------------------------------------------------------------------------

    def starter(self, call: mapping.ChatCall):
        backend = self.backends[call.served]
        options = dict(call.options)
        record = self.options.history

        settings = self.options.settings  # read once at start-up, not from disk per request

        def start(cancel: threading.Event, on_event) -> None:
            thinkcli.run(call.prompt, effort=call.effort, model=backend, cancel=cancel, on_event=on_event,
                         history=record, settings=settings, **options)

        return start

    def cancel_all(self) -> None:
        for run in list(self.runs):
            run.cancel.set()


def access_log(request: Request, record: dict, model: str, effort: str, started: float) -> None:
    usage = record.get("usage") or {}
    tokens = f"{usage.get('prompt_tokens', 0)}/{usage.get('completion_tokens', 0)}" if usage else "-"
    cost = record.get("cost")
    cost_text = "-" if not usage else "n/a" if cost is None else f"${cost:.4f}"
    client = request.client.host if request.client else "-"
    print(f"think serve: {client} {request.method} {request.url.path} model={_printable(model)} effort={effort} "
          f"tokens={tokens} cost={cost_text} status={record.get('status', 0)} {time.monotonic() - started:.2f}s",
          file=sys.stderr, flush=True)


def _printable(text: str, limit: int = 80) -> str:
    """A client-chosen name, safe for one log line.

    >>> _printable("think-low\\nFAKE LINE")
    'think-low?FAKE?LINE'
    """
    return "".join(c if c.isprintable() and c != " " else "?" for c in text[:limit]) or "-"


def build(options: Options) -> tuple[Starlette, State]:
    state = State(options)

    async def chat(request: Request):
        started = time.monotonic()
        name, effort = "-", "-"
        try:
            auth.check(options.api_key, request.headers.get("authorization"))
            raw = await _read_body(request, options.max_body)
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise bad_request(f"the request body is not valid JSON ({exc})") from None
            if isinstance(body, dict) and isinstance(body.get("model"), str):
                name = body["model"]
            if state.failure is not None or not state.ready:
                raise loading()
            call = mapping.parse(body, state.lookup, state.model_ids(), options.max_cost_per_request)
            effort = call.effort
            ticket = state.admission.reserve(call.n)
        except APIError as exc:
            access_log(request, {"status": exc.status}, name, effort, started)
            return JSONResponse(exc.body(), exc.status, headers=exc.headers)
        start = state.starter(call)
        return ChatResponse(call, [start] * call.n, ticket, state.runs,
                            lambda record: access_log(request, record, call.name, call.effort, started))

    async def models(request: Request):
        try:
            auth.check(options.api_key, request.headers.get("authorization"))
        except APIError as exc:
            return JSONResponse(exc.body(), exc.status)
        created = int(time.time())
        data = [{"id": i, "object": "model", "created": created, "owned_by": "thinkcli"} for i in state.model_ids()]
        return JSONResponse({"object": "list", "data": data})

    async def health(request: Request):
        if state.ready:
            adm = state.admission
            return JSONResponse({"status": "ok", "models": list(state.backends), "running": adm.active,
                                 "waiting": adm.waiting})
        return JSONResponse({"status": "loading"}, 503, headers={"Retry-After": "2"})

    async def http_error(request: Request, exc: HTTPException):
        err = APIError(exc.status_code, f"{request.method} {request.url.path}: {exc.detail}",
                       code="not_found" if exc.status_code == 404 else None)
        return JSONResponse(err.body(), exc.status_code)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        loader = threading.Thread(target=state.load, name="think-load", daemon=True)
        loader.start()
        try:
            yield
        finally:
            state.cancel_all()
            await asyncio.to_thread(loader.join, 5)
            state.close()

    routes = [
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/chat/completions", chat, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})
    return app, state


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with a 413 as soon as it is known to pass ``limit`` bytes."""
    too_big = APIError(413, f"the request body is larger than {limit} bytes", code="request_too_large")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_big
    data = bytearray()
    try:
        async for piece in request.stream():
            data += piece
            if len(data) > limit:
                raise too_big
    except ClientDisconnect:
        raise APIError(400, "the client disconnected while sending the body") from None
    return bytes(data)
