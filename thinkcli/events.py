"""Events: every observable step of a run, and the sink they are pushed to.

The live view, the JSON writer, the summary line, the history log and the tests
all consume this one stream. Nothing here imports anything but the stdlib.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Usage:
    """Token counts. ``estimated`` marks counts made from text, not reported by a server."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
            self.cached_tokens + other.cached_tokens,
            self.estimated or other.estimated,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cached_tokens": self.cached_tokens,
            "total_tokens": self.total_tokens,
            "estimated": self.estimated,
        }


class Event:
    """Base class of every event."""


# -- emitted by backends ------------------------------------------------------


@dataclass
class SampleStarted(Event):
    sample: int
    label: str = ""


@dataclass
class Token(Event):
    sample: int
    text: str
    kind: str = "answer"  # 'reasoning' | 'answer'


@dataclass
class Generation(Event):
    """One finished sequence, as the backend produced it (before answer extraction)."""

    sample: int
    text: str
    usage: Usage = field(default_factory=Usage)
    # 'stop' | 'length' | 'cancelled' | 'error' | 'context' | 'low-confidence' (DeepConf online stop)
    finish_reason: str = "stop"
    reasoning: str = ""
    logprobs: list[float] | None = None
    tool_calls: list[dict[str, Any]] | None = None  # OpenAI-shaped calls, when the model called tools
    # Confidence signals (thinkcli/signals.py), higher = surer; empty without log-probs.
    signals: dict[str, float] = field(default_factory=dict)
    approximate: bool = False  # signals from a server's top-k log-probs, not the full distribution

    @property
    def mean_logprob(self) -> float | None:
        if not self.logprobs:
            return None
        return sum(self.logprobs) / len(self.logprobs)


@dataclass
class ToolCall(Event):
    """A piece of a tool call as the model streams it (OpenAI's ``delta.tool_calls`` item):
    ``index`` numbers the call within the sample; ``id`` and ``name`` come first, ``arguments`` in pieces."""

    sample: int
    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class Retry(Event):
    after_s: float
    reason: str


@dataclass
class Notice(Event):
    """A one-line warning for the user (the run goes on, or answers from what it has)."""

    text: str


# -- emitted by strategies and the engine -------------------------------------


@dataclass
class AnswerSeen(Event):
    """A streaming sample's final-answer line is complete, before the sample ends
    (the engine spots it, so no renderer extracts answers itself)."""

    sample: int
    answer: str
    key: str | None = None  # answers.vote_key(answer): what it votes as


@dataclass
class SampleDone(Event):
    sample: int
    answer: str | None
    usage: Usage
    score: float | None = None
    text: str = ""
    key: str | None = None  # answers.vote_key(answer); the engine fills it in
    mean_logprob: float | None = None  # the vote's tie-break, for a run stopped early


@dataclass
class Vote(Event):
    tally: dict[str, int]
    leader: str | None = None
    confidence: float | None = None
    leader_key: str | None = None  # answers.vote_key(leader); the engine fills it in


@dataclass
class VerifyStarted(Event):
    sample: int


@dataclass
class VerifyDone(Event):
    sample: int
    verdict: Any  # verify.base.Verdict


@dataclass
class RoundStarted(Event):
    name: str


@dataclass
class Spend(Event):
    """The run's totals so far, after each finished (or cut-off) sample: what the live view shows."""

    usage: Usage
    cost_usd: float | None  # None when the model's price is unknown
    local: bool = False


@dataclass
class BudgetStop(Event):
    budget: str  # 'tokens' | 'time' | 'cost'
    detail: str = ""


@dataclass
class Final(Event):
    result: Any  # engine.Result


# -- emitted by a batch (think batch, think bench): one question's run is one row ----


@dataclass
class BatchStarted(Event):
    total: int  # questions this run asks
    skipped: int = 0  # answered by an earlier run (resume)
    concurrency: int = 1


@dataclass
class RowFinished(Event):
    id: Any
    ok: bool  # False: the row failed and was recorded with its error
    usage: Usage
    cost_usd: float | None
    local: bool = True
    error: str | None = None


@dataclass
class BatchStopped(Event):
    reason: str  # 'cost' | 'tokens' | 'interrupted' | 'unavailable'
    detail: str = ""


class Sink(Protocol):
    def emit(self, event: Event) -> None: ...


class NullSink:
    def emit(self, event: Event) -> None:
        pass


class ListSink:
    """Records every event; what tests read back."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


class FanOut:
    def __init__(self, *sinks: Sink) -> None:
        self.sinks = [s for s in sinks if s is not None]

    def emit(self, event: Event) -> None:
        for sink in self.sinks:
            sink.emit(event)
