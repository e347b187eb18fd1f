"""The run loop: resolve the model and the plan, run the strategy, enforce budgets.

``run(request, sink)`` never prints. It meters every call a strategy makes to
the backend (tokens, cost, wall time), stops when a budget runs out, turns
Ctrl-C into an interrupted Result that still carries the best answer so far,
and ends every run with one ``Final`` event.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from thinkcli.accounting import Meter
from thinkcli.answers import extract, vote_key
from thinkcli.calc import answer_in
from thinkcli.errors import BackendError, ThinkError, UsageError
from thinkcli.events import (
    AnswerSeen,
    BudgetStop,
    Event,
    Final,
    Notice,
    SampleDone,
    Sink,
    Usage,
    Vote,
)
from thinkcli.meter import BudgetExhausted, Cancelled
from thinkcli.request import Budgets, Request
from thinkcli.strategies import PROFILE_KNOBS, voting
from thinkcli.strategies.base import Candidate, Outcome, Plan, Problem

# Names callers have always imported from here.
__all__ = ["Budgets", "BudgetExhausted", "Cancelled", "Meter", "Request", "Result", "best_so_far",
           "load_backend", "run"]


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


class Recorder:
    """Keeps what the strategy has finished, so an interrupted run can still answer; gives
    answers their vote key on the way, so no renderer normalises answers itself."""

    def __init__(self, sink: Sink, key=vote_key) -> None:
        self.sink = sink
        self.key = key  # answer -> vote key, read against the run's question (Problem.key)
        self.done: list[SampleDone] = []

    def emit(self, event: Event) -> None:
        if isinstance(event, SampleDone):
            if event.key is None:
                event.key = self.key(event.answer)
            self.done.append(event)
        elif isinstance(event, Vote) and event.leader_key is None and event.leader is not None:
            event.leader_key = self.key(event.leader)
        elif isinstance(event, AnswerSeen) and event.key is None:
            event.key = self.key(event.answer)
        self.sink.emit(event)


def best_so_far(done: list[SampleDone], meter: Meter, key=vote_key,
                read: Callable[[str], str | None] | None = None) -> Outcome:
    """The vote over finished samples, ties broken as the vote breaks them (by mean
    log-probability); else the longest partial text, read by ``read`` (as its prompt style
    reads a reply; by default ``answers.extract``)."""
    cands = [Candidate(d.sample, d.text, d.answer, d.usage.completion_tokens, d.score, mean_logprob=d.mean_logprob)
             for d in done]
    buckets = voting.tally(((c.sample, c.answer, c.mean_logprob) for c in cands), key=key)
    top = voting.winner(buckets)
    if top is not None:
        winner = next(c for c in cands if c.sample in top.samples)
        votes = {b.answer: b.count for b in voting.ranked(buckets)} if len(cands) > 1 else None
        return Outcome(winner.answer, cands, chosen=winner.sample, votes=votes)
    partial = {i: "".join(p) for i, p in meter.partial.items() if "".join(p).strip()}
    if partial:
        i, text = max(partial.items(), key=lambda kv: len(kv[1]))
        answer = read(text) if read is not None else extract(text).answer
        cands.append(Candidate(i, text, answer, len(meter.partial[i]), finish_reason="cancelled"))
        return Outcome(answer, cands, chosen=i)
    return Outcome(None, cands)


def load_backend(request: Request):
    """Resolve the model reference and build its backend (imports the backend lazily)."""
    from thinkcli.backends import load

    return load(request.model, request.settings)


def forget_cache(backend) -> None:
    """Let a seeded run repeat: a backend that keeps state between calls (the local one's
    prompt cache) drops it, so the samples depend only on the run and its seed."""
    forget = getattr(backend, "forget", None)
    if callable(forget):
        forget()


def run(request: Request, sink: Sink, backend=None, verifier=None, cancel=None, stream: bool = True) -> Result:
    """Run one request to a Result, pushing every step to ``sink``. ``verifier`` replaces
    the one the request asks for (``think fix`` passes its own sandboxed command); once
    ``cancel`` (a threading.Event) is set the run stops as on Ctrl-C, with the best answer so far.
    ``stream=False``: nothing reads the tokens as they come (a batch), so a remote server may
    send each answer whole: no Token events, and a cancelled call leaves no partial text."""
    from thinkcli import strategies

    started = time.monotonic()
    owned = backend is None
    if backend is None:
        backend = load_backend(request)
    try:
        profile = _profile_of(backend)
        plan = plan_of(request, backend, profile)
        spec = strategies.spec(plan.strategy)
        if spec.raw_continuation and not backend.capabilities.raw_completion:
            raise ThinkError(
                f"strategy {plan.strategy} needs raw text continuation, which model {backend.model} does not offer; "
                "use a local GGUF model or a server with /v1/completions"
            )
        if plan.tools and not getattr(backend.capabilities, "tools", False):
            raise UsageError(
                f"model {backend.model} does not take tools (a local GGUF model here has no tool calling); "
                "use an OpenAI-compatible model (-m openai:NAME) or drop the tools"
            )
        strategy = spec.load()
        if plan.seed is not None:
            forget_cache(backend)
        problem = Problem(request.prompt, request.system, request.messages)
        recorder = Recorder(sink, key=problem.key)
        # a cut-off reply of a whole-answer strategy is read as its prompt style reads one (a program's value)
        read = (lambda text: answer_in(text, plan.prompt_style, problem.question)) if spec.whole_answers else None
        meter = Meter(backend, recorder, request.budgets, price=_price_for(backend, request),
                      price_for=lambda other: _price_for(other, request), cancel=cancel, stream=stream)
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
            outcome = stop.outcome or best_so_far(recorder.done, meter, recorder.key, read)
        except KeyboardInterrupt as stop:
            interrupted = True
            outcome = getattr(stop, "outcome", None) or best_so_far(recorder.done, meter, recorder.key, read)
        except BackendError as failure:
            # A later call failed (server down mid-run): answer from what finished, if anything did.
            if not recorder.done:
                raise
            outcome = best_so_far(recorder.done, meter, recorder.key, read)
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
            plan=plan_report(plan, profile),
        )
        sink.emit(Final(result))
        return result
    finally:
        if owned:
            backend.close()


def plan_report(plan: Plan, profile: dict | None) -> dict[str, Any]:
    """``--json``'s plan: the knobs that ran, where each came from (flag, profile, or default
    for a knob nothing set, then any other knob a profile or flag set: an auto probe, a round
    size), and the profile.

    >>> from thinkcli.strategies import plan_for
    >>> src = plan_report(plan_for("low", "smollm2-135m", None, max_tokens=64), None)["sources"]
    >>> src["max_tokens"], src["seed"], src["temperature"]
    ('flag', 'default', 'default')
    """
    knobs = {
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
        # the knobs a profile keeps in extra (an auto probe, its easy test), as they ran
        **{k: v for k, v in plan.extra.items() if k in PROFILE_KNOBS},
    }
    return {**knobs, "sources": {**{k: plan.sources.get(k, "default") for k in knobs}, **plan.sources},
            "profile": profile.get("source") if profile else None}


_LOOK_UP = object()  # plan_of's default: look the backend's profile up


def plan_of(request: Request, backend, profile=_LOOK_UP) -> Plan:
    """The request's effort preset on this model (and its calibration profile, looked up
    unless given; None when the model has none), with its overrides applied."""
    from thinkcli import strategies

    return strategies.plan_for(
        request.effort, backend.model, _profile_of(backend) if profile is _LOOK_UP else profile, strategy=request.strategy,
        samples=request.samples, max_tokens=request.max_tokens, temperature=request.temperature,
        seed=request.seed, prompt_style=request.prompt_style, **request.plan_overrides,
    )


TEMPLATE_TOKENS = 128  # the most a prompt template (prompts/*.txt) adds to the question
SEARCHES = ("beam", "mcts")  # tree searches: calls per sample vary with the steps taken


def worst_case(request: Request, backend) -> tuple[Usage, float | None]:
    """The most one run of ``request`` may spend: the budget a batch reserves for it, and
    then gives it as its own, so it never spends more. Every call is taken at its full
    ``max_tokens`` over the whole prompt (1.5x the estimate, for tokenizers denser than
    4 characters a token): one call per sample (one for strategies that ignore samples),
    1 + 2 x rounds for refine, 4 per sample for the tree searches, twice that with a
    verifier or judge; prompts that quote earlier replies (refine, judges, searches) get
    two replies' worth more. A run that would need more stops early with its best answer."""
    from thinkcli import strategies

    plan = plan_of(request, backend)
    calls = plan.samples if strategies.spec(plan.strategy).uses_samples else 1
    quoting = plan.strategy in ("refine", *SEARCHES) or request.judge or request.judge_model is not None
    if plan.strategy == "refine":
        calls = 1 + 2 * plan.rounds
    elif plan.strategy in SEARCHES:
        calls = 4 * max(plan.samples, plan.beam_width)
    if request.verify or request.judge or request.judge_model:
        calls *= 2
    prompt = prompt_worst_case(backend, f"{request.system or ''}\n{request.prompt}") + (2 * plan.max_tokens if quoting else 0)
    usage = Usage(prompt * calls, plan.max_tokens * calls, estimated=True)
    price = _price_for(backend, request)
    return usage, (price(usage) if price is not None else None)


def prompt_worst_case(backend, text: str) -> int:
    """The most prompt tokens one call over ``text`` may take: 1.5x the backend's estimate (for
    tokenizers denser than 4 characters a token) and the largest prompt template."""
    return (3 * backend.count_tokens(text) + 1) // 2 + TEMPLATE_TOKENS


# Inside lookups_once(): (kind, id(backend)) -> (backend, what was looked up for it).
_once: dict | None = None
_once_users = 0
_once_lock = threading.Lock()


@contextlib.contextmanager
def lookups_once():
    """Within it, each backend's calibration profile and price are looked up once, not per run.

    A batch asks thousands of questions of one loaded model; looking the profile (twice: a
    platformdirs call and a stat each) and the price (a stat) up for each one, every system
    call letting 30 threads fight over the GIL, was a tenth of the client's work per
    question. A profile or price file written while it runs applies from the next batch.
    Nested and concurrent uses share the memo until the last one leaves.
    """
    global _once, _once_users
    with _once_lock:
        _once_users += 1
        if _once is None:
            _once = {}
    try:
        yield
    finally:
        with _once_lock:
            _once_users -= 1
            if not _once_users:
                _once = None


def _once_for(kind: str, backend, look_up):
    memo = _once
    if memo is None:
        return look_up()
    key = (kind, id(backend))
    if key not in memo:
        memo[key] = (backend, look_up())  # the backend is kept so its id is not reused meanwhile
    return memo[key][1]


def _profile_of(backend):
    from thinkcli import profiles

    return _once_for("profile", backend, lambda: profiles.for_backend(backend))


def _price_for(backend, request: Request):
    return price_for(backend, request.settings, request.budgets.max_cost)


def price_for(backend, settings: dict, max_cost: float | None = None):
    """The backend's price function (None for a local model); with ``max_cost``, a model of
    unknown price is a usage error, since its spending could not be bounded."""
    if backend.capabilities.local:
        return None
    from thinkcli import pricing

    price = _once_for("price", backend, lambda: pricing.price_function(backend.model, settings))
    if max_cost is not None and price(Usage()) is None:  # an unknown price cannot bound spending
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

    return make_verifier(meter, command=request.verify, timeout=request.verify_timeout, keep_env=request.verify_env,
                         judge=request.judge, judge_model=request.judge_model, named=plan.extra.get("verifier"),
                         settings=request.settings)
