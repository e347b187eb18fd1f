"""The engine's books: the ``Meter`` every strategy call goes through.

It wraps a backend for one run: run-wide sample numbering, event forwarding,
usage and cost accounting (each model at its own price), budget checks before
and during every call, cancellation, and spotting a sample's final answer as
soon as its line has streamed (``AnswerSeen``). Strategies see it only as
``meter.MeterProtocol``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from thinkcli.answers import EarlyAnswer
from thinkcli.backends.base import estimate_tokens
from thinkcli.errors import CallCancelled, DeadlineReached, ThinkError
from thinkcli.events import AnswerSeen, Event, Generation, SampleStarted, Sink, Spend, Token, Usage
from thinkcli.meter import BudgetExhausted, Cancelled, GenParams, Message
from thinkcli.request import Budgets


class Meter:
    """Wraps a backend for a strategy: global sample numbering, event forwarding,
    usage and cost accounting, and budget checks before and during every call."""

    def __init__(self, backend, sink: Sink, budgets: Budgets, price=None, clock=time.monotonic, price_for=None,
                 cancel=None, stream: bool = True):
        self.backend = backend
        self.cancel = cancel  # a threading.Event: once set, the next check stops the run as Ctrl-C would
        # False: no one reads the tokens as they come, so a remote call may get its answer whole;
        # a token or time budget still needs them (it stops mid-answer, with the partial text)
        self.stream = stream or budgets.max_total_tokens is not None or budgets.time_limit is not None
        self.sink = sink
        self.budgets = budgets
        self.price = price  # the answering model's callable(Usage) -> USD | None; None for a local model
        self.price_for = price_for  # backend -> its price (a --judge-model); default: the answering model's
        self.prices: dict[int, Callable | None] = {}
        self.cost: float | None = 0.0  # USD so far, each call at its own model's price; None once unknown
        self.local = bool(getattr(backend.capabilities, "local", False))  # False once a paid model is used
        self.clock = clock
        self.started = clock()
        self.usage = Usage()
        self.next_index = 0
        self.partial: dict[int, list[str]] = {}  # text so far of every started sample
        self.spotters: dict[int, EarlyAnswer] = {}  # each streaming sample's answer, once its line is written
        self.finished: set[int] = set()
        self.streaming_tokens = 0

    # -- what strategies see of the backend ------------------------------------

    @property
    def model(self) -> str:
        return self.backend.model

    @property
    def capabilities(self):
        return self.backend.capabilities

    @property
    def context_size(self):
        return self.backend.context_size

    def count_tokens(self, text: str) -> int:
        return self.backend.count_tokens(text)

    def chat_prompt(self, messages: list[Message]) -> str:
        return self.backend.chat_prompt(messages)

    def generate(self, messages: list[Message], params: GenParams, n: int = 1, label: str = "") -> Iterator[Event]:
        self._before_request(sum(len(m.get("content") or "") for m in messages), params, n, self.price)
        base, params = self._allocate(params, n)
        return self._metered(self.backend.generate(messages, params, n), base, n, label, self.price)

    def complete(self, prompt: str, params: GenParams, n: int = 1, label: str = "") -> Iterator[Event]:
        if not self.backend.capabilities.raw_completion:
            raise ThinkError(
                f"model {self.backend.model} cannot continue a raw prompt, which this strategy needs; "
                "use a local GGUF model or a server with /v1/completions"
            )
        self._before_request(len(prompt), params, n, self.price)
        base, params = self._allocate(params, n)
        return self._metered(self.backend.complete(prompt, params, n), base, n, label, self.price)

    def draw(self, messages: list[Message], params: GenParams, n: int = 1, label: str = "") -> list[Generation]:
        """Generate ``n`` samples to the end and return their Generations in sample order."""
        return self._collect(self.generate(messages, params, n, label))

    def draw_raw(self, prompt: str, params: GenParams, n: int = 1, label: str = "") -> list[Generation]:
        return self._collect(self.complete(prompt, params, n, label))

    def draw_on(self, backend, messages: list[Message] | str, params: GenParams, n: int = 1, label: str = "") -> list[Generation]:
        """Draw from another backend (a judge model) on this run's books: same budgets, usage,
        numbering, and its own price. A string is a raw prompt, continued with ``backend.complete``."""
        raw = isinstance(messages, str)
        price = self.price_of(backend)
        self._before_request(len(messages) if raw else sum(len(m.get("content") or "") for m in messages), params, n, price)
        base, params = self._allocate(params, n)
        events = backend.complete(messages, params, n) if raw else backend.generate(messages, params, n)
        return self._collect(self._metered(events, base, n, label, price))

    def price_of(self, backend):
        """The price function for calls to ``backend`` (None: local, free); resolved once per backend."""
        if backend is self.backend or self.price_for is None:
            return self.price
        if id(backend) not in self.prices:
            self.prices[id(backend)] = self.price_for(backend)
        return self.prices[id(backend)]

    @staticmethod
    def _collect(events: Iterator[Event]) -> list[Generation]:
        gens = [e for e in events if isinstance(e, Generation)]
        return sorted(gens, key=lambda g: g.sample)

    # -- accounting ----------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def _charge(self, price, usage: Usage) -> None:
        """Add a call's cost at its own model's price (prices are linear in tokens)."""
        if price is None:
            return
        self.local = False
        usd = price(usage)
        self.cost = None if usd is None or self.cost is None else self.cost + usd

    def _allocate(self, params: GenParams, n: int) -> tuple[int, GenParams]:
        """Reserve run-wide indices for a call's samples. With a seed, sample k of the run
        gets seed + k (backends add the local index), so repeated draws differ yet reproduce."""
        base = self.next_index
        self.next_index += n
        if params.seed is not None and base:
            params = params.with_(seed=params.seed + base)
        if self.budgets.time_limit is not None:  # a backend waiting on a server stops there too
            params = params.with_(deadline=self.started + self.budgets.time_limit)
        if self.cancel is not None or not self.stream:  # and on cancel, even before any token comes
            params = params.with_(cancel=self.cancel, stream=self.stream)
        return base, params

    def _metered(self, events: Iterator[Event], base: int, n: int, label: str, price=None) -> Iterator[Event]:
        """Renumber a call's samples run-wide and forward its events to the sink.

        A sample is announced (SampleStarted) when its first event arrives, so a
        backend that refills a batch as sequences finish shows samples as they
        really start. Closing this iterator cancels the call; tokens of samples
        cut short still count as spent.
        """
        live: set[int] = set()
        try:
            for event in _until_deadline(events, self.budgets):
                sample = getattr(event, "sample", None)
                if isinstance(sample, int):
                    event.sample = sample = sample + base
                    if sample not in live and not isinstance(event, SampleStarted):
                        live.add(sample)
                        self._started(sample)
                        self.sink.emit(SampleStarted(sample, label))
                    elif isinstance(event, SampleStarted):
                        live.add(sample)
                        self._started(sample)
                        event.label = event.label or label
                if isinstance(event, Token):
                    self.partial[event.sample].append(event.text)
                    self.streaming_tokens += 1
                    self.sink.emit(event)
                    seen = self.spotters[event.sample].feed(event.text)
                    if seen is not None:
                        self.sink.emit(AnswerSeen(event.sample, seen))  # the engine's Recorder keys it
                    self._check_running()
                elif isinstance(event, Generation):
                    self.streaming_tokens -= len(self.partial.get(event.sample, []))
                    self.finished.add(event.sample)
                    self.usage = self.usage + event.usage
                    self._charge(price, event.usage)
                    self.sink.emit(event)
                    self._spent()
                else:
                    self.sink.emit(event)
                yield event
        finally:
            close = getattr(events, "close", None)
            if close:
                close()
            cut = [i for i in live if i not in self.finished]
            spent = sum(len(self.partial.get(i, [])) for i in cut)
            if spent:
                self.streaming_tokens -= spent
                self.usage = self.usage + Usage(completion_tokens=spent)
                self._charge(price, Usage(completion_tokens=spent))
                self._spent()

    def _started(self, sample: int) -> None:
        self.partial[sample] = []
        self.spotters[sample] = EarlyAnswer()

    def _spent(self) -> None:
        self.sink.emit(Spend(self.usage, self.cost, self.local))

    def _check_running(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled()
        b = self.budgets
        if b.time_limit is not None and self.elapsed >= b.time_limit:
            raise BudgetExhausted("time", f"{b.time_limit:g} s")
        if b.max_total_tokens is not None:
            spent = self.usage.total_tokens + self.streaming_tokens
            if spent >= b.max_total_tokens:
                raise BudgetExhausted("tokens", f"{b.max_total_tokens} tokens")

    def _before_request(self, prompt_chars: int, params: GenParams, n: int, price) -> None:
        self._check_running()
        b = self.budgets
        if b.max_cost is not None and price is not None:
            worst = Usage(estimate_tokens("x" * prompt_chars) * n, params.max_tokens * n)
            spent = self.cost or 0.0
            more = price(worst) or 0.0
            if spent + more > b.max_cost:
                raise BudgetExhausted("cost", f"${b.max_cost:g}")


def _until_deadline(events: Iterator[Event], budgets: Budgets) -> Iterator[Event]:
    """A backend's events; its DeadlineReached becomes the time budget's stop."""
    try:
        yield from events
    except DeadlineReached:
        raise BudgetExhausted("time", f"{budgets.time_limit:g} s") from None
    except CallCancelled:
        raise Cancelled() from None
