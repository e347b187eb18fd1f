"""The Backend protocol every model runner implements, and the registry of backends.

A backend turns chat messages into a stream of events: ``Token`` while text is
produced and one ``Generation`` per finished sequence. It knows nothing about
strategies, answers or display. Sample indices in the events it yields are local
(0..n-1); the engine maps them to run-wide indices.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from thinkcli.events import Event

Message = dict[str, Any]  # {"role": "system"|"user"|"assistant"|"tool", "content": str, ...}


@dataclass(frozen=True)
class GenParams:
    max_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    seed: int | None = None
    stop: tuple[str, ...] = ()
    logprobs: bool = True  # also switches the confidence signals (thinkcli/signals.py) on
    tools: tuple[dict, ...] = ()  # OpenAI tool definitions, passed through to servers that take them
    tool_choice: str | dict | None = None
    deadline: float | None = None  # time.monotonic() by which the call must end (--time-limit)
    group_window: int = 0  # tokens per DeepConf group; 0 = signals.default_window(max_tokens)
    # DeepConf online: end a sample once its group confidence falls below this (None = never).
    confidence_stop: float | None = None
    stream: bool = True  # False: a remote server may send the whole answer at once (no Token events before it)
    cancel: Any = None  # the run's threading.Event: once set, a remote call in flight ends (CallCancelled)

    @property
    def window(self) -> int:
        if self.group_window > 0:
            return self.group_window
        from thinkcli.signals import default_window

        return default_window(self.max_tokens)

    def with_(self, **changes) -> GenParams:
        return replace(self, **changes)


@dataclass(frozen=True)
class Capabilities:
    stream: bool = True
    logprobs: bool = False
    raw_completion: bool = False  # can continue a raw prompt string (budget forcing)
    batch: bool = False  # draws n>1 samples together in one call
    local: bool = True  # runs on this machine: cost is $0
    tools: bool = False  # forwards tool definitions and streams tool calls back


class Backend(Protocol):
    model: str  # display name of the model
    capabilities: Capabilities
    context_size: int | None  # in tokens, when known

    def generate(self, messages: list[Message], params: GenParams, n: int = 1) -> Iterator[Event]:
        """Draw ``n`` samples for one conversation; yield Token and Generation events."""
        ...

    def complete(self, prompt: str, params: GenParams, n: int = 1) -> Iterator[Event]:
        """Continue a raw prompt string (no chat template added). Needs ``raw_completion``."""
        ...

    def chat_prompt(self, messages: list[Message]) -> str:
        """The raw prompt string the chat template makes of ``messages``, ready for an
        assistant turn. Needs ``raw_completion``."""
        ...

    def count_tokens(self, text: str) -> int: ...

    def close(self) -> None: ...


@dataclass
class BackendSpec:
    """How to build a backend for a model reference with a given scheme."""

    scheme: str
    factory: Callable[..., Backend]
    description: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)


# scheme -> spec; third parties register here the same way the built-ins do.
BACKENDS: dict[str, BackendSpec] = {}


def register_backend(spec: BackendSpec) -> None:
    BACKENDS[spec.scheme] = spec
    for alias in spec.aliases:
        BACKENDS[alias] = spec


def estimate_tokens(text: str) -> int:
    """Rough token count for text no tokenizer saw (about 4 characters a token).

    >>> estimate_tokens("")
    0
    >>> estimate_tokens("hello world!")
    3
    """
    return (len(text) + 3) // 4
