"""The run loop: resolve the model and the plan, run the strategy, enforce budgets.

``run(request, sink)`` never prints. It meters every call a strategy makes to
the backend (tokens, cost, wall time), stops when a budget runs out, turns
Ctrl-C into an interrupted Result that still carries the best answer so far,
and ends every run with one ``Final`` event.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from thinkcli.answers import vote_key
from thinkcli.backends.base import GenParams, Message, estimate_tokens
from thinkcli.errors import BackendError, DeadlineReached, ThinkError, UsageError
from thinkcli.events import (
    BudgetStop,
    Event,
    Final,
    Generation,
    Notice,
    SampleDone,
    SampleStarted,
    Sink,
    Spend,
    Token,
    Usage,
)
from thinkcli.strategies.base import Candidate, Outcome, Plan, Problem


@dataclass
class Budgets:
    max_total_tokens: int | None = None
    time_limit: float | None = None  # seconds
    max_cost: float | None = None  # USD


@dataclass
class Request:
    prompt: str
    system: str | None = None
    model: str | None = None
    effort: str = "low"
    strategy: str | None = None
    samples: int | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    prompt_style: str | None = None
    budgets: Budgets = field(default_factory=Budgets)
    verify: str | None = None  # shell command that checks a candidate (sandboxed)
    verify_timeout: float = 60.0
    verify_env: tuple[str, ...] = ()  # variables the verify command gets although they look secret
    judge: bool = False  # score candidates with a judge model
    judge_model: str | None = None  # the judge; None = the answering model
    plan_overrides: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # backend settings, aliases, providers


@dataclass
class Result:
    answer: str | None
    strategy: str
    model: str
    candidates: list[Candidate]
    usage: Usage
    cost_usd: float | None
    wall_s: float
    chosen: int | None = None
    votes: dict[str, int] | None = None
    confidence: float | None = None
    stopped_by: str | None = None  # 'tokens' | 'time' | 'cost' when a budget ended the run
    interrupted: bool = False
    local: bool = True
    notes: list[str] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)
    selection: dict[str, Any] | None = None  # the final choice's rule and each answer's weight

    @property
    def samples_drawn(self) -> int:
        return len(self.candidates)

    def as_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "strategy": self.strategy,
            "model": self.model,
            "samples": [c.as_dict() for c in self.candidates],
            "chosen": self.chosen,
            "votes": self.votes,
            "select": self.selection,
            "confidence": self.confidence,
            "verdicts": [
                {"index": c.sample, **c.verdict.as_dict()} for c in self.candidates if c.verdict is not None
            ],
            "usage": self.usage.as_dict(),
            "cost_usd": self.cost_usd,
            "wall_s": round(self.wall_s, 3),
            "stopped_by": self.stopped_by,
            "interrupted": self.interrupted,
            "notes": self.notes,
            "plan": self.plan,
        }


class BudgetExhausted(Exception):
    def __init__(self, budget: str, detail: str = "") -> None:
        super().__init__(budget)
        self.budget = budget
        self.detail = detail
        self.outcome: Outcome | None = None  # a search strategy's best answer so far, when it set one


class Meter:
    """Wraps a backend for a strategy: global sample numbering, event forwarding,
    usage and cost accounting, and budget checks before and during every call."""

    def __init__(self, backend, sink: Sink, budgets: Budgets, price=None, clock=time.monotonic, price_for=None):
        self.backend = backend
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
        self._before_request(sum(len(m["content"]) for m in messages), params, n, self.price)
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
        self._before_request(len(messages) if raw else sum(len(m["content"]) for m in messages), params, n, price)
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
                        self.partial[sample] = []
                        self.sink.emit(SampleStarted(sample, label))
                    elif isinstance(event, SampleStarted):
                        live.add(sample)
                        self.partial[sample] = []
                        event.label = event.label or label
                if isinstance(event, Token):
                    self.partial[event.sample].append(event.text)
                    self.streaming_tokens += 1
                    self.sink.emit(event)
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

    def _spent(self) -> None:
        self.sink.emit(Spend(self.usage, self.cost, self.local))

    def _check_running(self) -> None:
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


class Recorder:
    """Keeps what the strategy has finished, so an interrupted run can still answer."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.done: list[SampleDone] = []

    def emit(self, event: Event) -> None:
        if isinstance(event, SampleDone):
            self.done.append(event)
        self.sink.emit(event)


def best_so_far(done: list[SampleDone], meter: Meter) -> Outcome:
    """Majority over finished samples (ties to the earliest); else the longest partial text."""
    from thinkcli.answers import extract

    cands = [Candidate(d.sample, d.text, d.answer, d.usage.completion_tokens, d.score) for d in done]
    keyed = [(vote_key(c.answer), c) for c in cands if vote_key(c.answer) is not None]
    if keyed:
        tally = Counter(k for k, _ in keyed)
        top = max(tally.values())
        winner = next(c for k, c in keyed if tally[k] == top)
        return Outcome(winner.answer, cands, chosen=winner.sample, votes=dict(tally) if len(cands) > 1 else None)
    partial = {i: "".join(p) for i, p in meter.partial.items() if "".join(p).strip()}
    if partial:
        i, text = max(partial.items(), key=lambda kv: len(kv[1]))
        answer = extract(text).answer
        cands.append(Candidate(i, text, answer, len(meter.partial[i]), finish_reason="cancelled"))
        return Outcome(answer, cands, chosen=i)
    return Outcome(None, cands)


def load_backend(request: Request):
    """Resolve the model reference and build its backend (imports the backend lazily)."""
    from thinkcli.backends import load

    return load(request.model, request.settings)


def run(request: Request, sink: Sink, backend=None, verifier=None) -> Result:
    """Run one request to a Result, pushing every step to ``sink``. ``verifier`` replaces
    the one the request asks for (``think fix`` passes its own sandboxed command)."""
    from thinkcli import strategies

    started = time.monotonic()
    owned = backend is None
    if backend is None:
        backend = load_backend(request)
    try:
        from thinkcli import profiles

        profile = profiles.for_backend(backend)
        plan: Plan = strategies.plan_for(
            request.effort,
            backend.model,
            profile,
            strategy=request.strategy,
            samples=request.samples,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            seed=request.seed,
            prompt_style=request.prompt_style,
            **request.plan_overrides,
        )
        strategy = strategies.get(plan.strategy)
        recorder = Recorder(sink)
        meter = Meter(backend, recorder, request.budgets, price=_price_for(backend, request),
                      price_for=lambda other: _price_for(other, request))
        problem = Problem(request.prompt, request.system)
        verifier = verifier or _verifier_for(request, plan, meter)
        for text in getattr(verifier, "notices", ()):
            sink.emit(Notice(text))
        stopped_by = None
        interrupted = False
        try:
            outcome = strategy(problem, plan, meter, verifier, recorder)
        except BudgetExhausted as stop:
            stopped_by = stop.budget
            sink.emit(BudgetStop(stop.budget, stop.detail))
            outcome = stop.outcome or best_so_far(recorder.done, meter)
        except KeyboardInterrupt as stop:
            interrupted = True
            outcome = getattr(stop, "outcome", None) or best_so_far(recorder.done, meter)
        except BackendError as failure:
            # A later call failed (server down mid-run): answer from what finished, if anything did.
            if not recorder.done:
                raise
            outcome = best_so_far(recorder.done, meter)
            outcome.notes.append(f"stopped early: {failure.message}")
            sink.emit(Notice(f"{failure.message}; answering from the {len(recorder.done)} finished sample(s)"))
        if not interrupted:
            try:
                _verify_chosen(problem, outcome, verifier, recorder)
            except KeyboardInterrupt:
                interrupted = True
        result = Result(
            answer=outcome.answer,
            strategy=plan.strategy,
            model=backend.model,
            candidates=outcome.candidates,
            usage=meter.usage,
            cost_usd=meter.cost,
            wall_s=time.monotonic() - started,
            chosen=outcome.chosen,
            votes=outcome.votes,
            confidence=outcome.confidence,
            stopped_by=stopped_by,
            interrupted=interrupted,
            local=meter.local,
            notes=outcome.notes,
            selection=outcome.selection,
            plan={
                "strategy": plan.strategy,
                "samples": plan.samples,
                "prompt_style": plan.prompt_style,
                "max_tokens": plan.max_tokens,
                "temperature": plan.temperature,
                "confidence": plan.confidence,
                "seed": plan.seed,
                "select": plan.select,
                # the stops that spend less (off unless a plan turns them on)
                "futility": bool(plan.extra.get("futility", plan.futility)),
                "esc_window": plan.esc_window,
                "online_warmup": plan.online_warmup,
                "online_keep": plan.online_keep,
                "sources": plan.sources,
                "profile": profile.get("source") if profile else None,
            },
        )
        sink.emit(Final(result))
        return result
    finally:
        if owned:
            backend.close()


def _price_for(backend, request: Request):
    if backend.capabilities.local:
        return None
    from thinkcli import pricing

    price = pricing.price_function(backend.model, request.settings)
    if request.budgets.max_cost is not None and price(Usage()) is None:  # an unknown price cannot bound spending
        raise UsageError(
            f"no price is known for model {backend.model}, so --max-cost cannot be enforced; "
            f"add it to {pricing.user_path()} (USD per million tokens) or drop --max-cost"
        )
    return price


def _verify_chosen(problem: Problem, outcome: Outcome, verifier, sink: Sink) -> None:
    """A pass/fail verifier (--verify) judges the printed answer even when the strategy
    did not ask it (cot, vote), so exit status 4 always means what it says."""
    if verifier is None or not getattr(verifier, "pass_fail", False):
        return
    chosen = next((c for c in outcome.candidates if c.sample == outcome.chosen), None)
    if chosen is not None and chosen.verdict is None:
        from thinkcli.strategies.scoring import score

        score(verifier, problem.question, chosen, sink)


def _verifier_for(request: Request, plan: Plan, meter: Meter):
    if not (request.verify or request.judge or request.judge_model or plan.extra.get("verifier")):
        return None
    from thinkcli.verify import make_verifier

    return make_verifier(request, plan, meter)
