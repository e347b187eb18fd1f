"""The library face behind ``import thinkcli``: run, stream, load_model, the plugin tables.

The command line, ``think serve``, batch runs and Python users all come through
here. Nothing here prints: results come back as a ``Result``, progress as events,
failures as ``ThinkError`` subclasses carrying their ``ExitStatus``.
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from thinkcli.errors import ExitStatus, UsageError
from thinkcli.events import Event, Final
from thinkcli.request import Request, build_request

EventHandler = Callable[[Event], None]


class _Callback:
    """A sink that hands each event to a function (``on_event``)."""

    def __init__(self, func: EventHandler | None) -> None:
        self.func = func

    def emit(self, event: Event) -> None:
        if self.func is not None:
            self.func(event)


# One lock per shared backend object that cannot run two generations at once (llama.cpp).
_locks: dict[int, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(backend) -> threading.Lock | None:
    if getattr(backend, "thread_safe", False):
        return None
    key = id(backend)
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = threading.Lock()
            try:
                weakref.finalize(backend, _locks.pop, key, None)
            except TypeError:  # not weak-referenceable: keep the lock for the process
                pass
    return lock


def _request(prompt: str, model, effort, samples, options: dict[str, Any]) -> tuple[Request, Any]:
    """The Request for a call, and the backend object when ``model`` is one (not a reference)."""
    if not isinstance(prompt, str):
        raise UsageError(f"prompt must be a string, got {type(prompt).__name__}")
    backend = None
    if model is not None and not isinstance(model, str):
        if not callable(getattr(model, "generate", None)):
            raise UsageError("model must be a reference string or a backend from thinkcli.load_model")
        backend, model = model, None
    request = build_request(prompt, model=model, effort=effort, samples=samples, **options)
    if backend is not None:
        request.model = backend.model
    return request, backend


def run(prompt: str, *, effort: str | None = None, model=None, samples: int | None = None,
        on_event: EventHandler | None = None, cancel: threading.Event | None = None, history: bool = False,
        stream: bool = True, **options: Any):
    """Answer ``prompt`` and return the ``Result``; every ask flag is a keyword by its Python name.

    ``model`` is a reference ("openai:gpt-4o-mini", a .gguf path, an alias) or a backend
    from ``load_model``, which is reused and left open. ``on_event`` gets every event the
    live view draws. Setting ``cancel`` stops the run as Ctrl-C does: the Result carries
    the best answer so far and ``interrupted=True``. ``history=True`` logs the run where
    ``think logs`` reads it, as the command line does. ``stream=False`` is for callers that
    read only the Result (a batch): a remote server may send each answer whole, which costs
    the client less, but no Token events arrive and a cancelled run has no partial answer.
    """
    from thinkcli import engine

    request, backend = _request(prompt, model, effort, samples, options)
    lock = _lock_for(backend) if backend is not None else None
    if lock is None:
        result = engine.run(request, _Callback(on_event), backend=backend, cancel=cancel, stream=stream)
    else:
        with lock:
            result = engine.run(request, _Callback(on_event), backend=backend, cancel=cancel, stream=stream)
    if history:
        from thinkcli import history as log

        status = ExitStatus.INTERRUPTED if result.interrupted else ExitStatus.SUCCESS if result.answer else ExitStatus.ERROR
        log.record(request.prompt, result, status)
    return result


def worst_case(prompt: str, *, model, effort: str | None = None, samples: int | None = None, **options: Any):
    """``(Usage, USD | None)``: the most ``run`` with these arguments may spend on the loaded
    backend ``model``; ``run`` with ``max_cost``/``max_total_tokens`` set to it never spends more.
    What a batch reserves before it starts a question (USD None: a free or unpriced model)."""
    from thinkcli import engine

    request, backend = _request(prompt, model, effort, samples, options)
    if backend is None:
        raise UsageError("worst_case needs a loaded model: thinkcli.load_model(ref)")
    return engine.worst_case(request, backend)


def lookups_once():
    """A context in which each loaded model's calibration profile and price are read once
    rather than on every ``run``: for callers that ask many questions of one model (a batch)."""
    from thinkcli import engine

    return engine.lookups_once()


_DONE = object()


def stream(prompt: str, *, effort: str | None = None, model=None, samples: int | None = None,
           **options: Any) -> Iterator[Event]:
    """Run ``prompt`` in a worker thread and yield its events as they happen; the last is
    ``events.Final(result)``. Closing (or abandoning) the generator cancels the run and
    waits for the worker, so no thread outlives it. A failure is raised here."""
    if "on_event" in options or "cancel" in options:
        raise UsageError("stream() yields the events and cancels on close; on_event and cancel are for run()")
    request_args = (prompt, model, effort, samples, options)
    _request(*request_args)  # bad options fail here, before a thread starts
    return _events(request_args)


def _events(request_args) -> Iterator[Event]:
    inbox: queue.Queue = queue.Queue()
    cancel = threading.Event()
    failure: list[BaseException] = []
    prompt, model, effort, samples, options = request_args

    def work() -> None:
        try:
            run(prompt, effort=effort, model=model, samples=samples, on_event=inbox.put, cancel=cancel, **options)
        except BaseException as exc:  # handed to the consumer's thread
            failure.append(exc)
        finally:
            inbox.put(_DONE)

    worker = threading.Thread(target=work, name="thinkcli-stream", daemon=True)
    worker.start()
    try:
        while True:
            event = inbox.get()
            if event is _DONE:
                break
            yield event
            if isinstance(event, Final):
                break
    finally:
        cancel.set()
        worker.join()
    if failure:
        raise failure[0]


def load_model(ref: str | None = None, **settings: Any):
    """Load a model once for many runs: ``run(..., model=backend)`` reuses it. ``ref`` is what
    ``-m`` takes; ``settings`` are config keys (threads, context, base_url, ...) over the
    effective config. Close it with ``backend.close()`` when done."""
    from thinkcli import config
    from thinkcli.backends import load

    known = (*config.SCHEMA, "aliases", "providers")
    for name in settings:
        if name not in known:
            raise UsageError(f"unknown model setting {name!r}; known: {', '.join(known)}")
    effective = config.load()
    effective.update({k: v for k, v in settings.items() if v is not None})
    return load(ref or effective.get("model"), effective)


def register_backend(scheme: str, factory: Callable, description: str = "", aliases: tuple[str, ...] = ()) -> None:
    """Make ``scheme:NAME`` model references load through ``factory(ref, settings)``, in the
    table the built-in backends use (entry-point group ``thinkcli.backends`` does the same)."""
    from thinkcli.backends.base import BackendSpec
    from thinkcli.backends.base import register_backend as register

    register(BackendSpec(scheme, factory, description, tuple(aliases)))


def register_strategy(name: str, spec) -> None:
    """Make ``strategy=name`` (and ``--strategy name``) run ``spec``: a ``StrategySpec``, a
    function ``(problem, plan, meter, verifier, sink) -> Outcome``, or "module:function"."""
    from thinkcli.strategies import register_strategy as register

    register(name, spec)
