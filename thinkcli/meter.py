"""What a strategy may ask of the model: the ``Meter`` protocol, and the stops a Meter raises.

Strategies and the judge reach a backend only through this protocol (the engine's
``accounting.Meter`` implements it: numbering, budgets, usage, cost). The backend's
parameter and message types are re-exported here so no strategy imports a backend.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from thinkcli.backends.base import Capabilities, GenParams, Message
from thinkcli.events import Event, Generation

__all__ = ["BudgetExhausted", "Cancelled", "Capabilities", "GenParams", "Message", "MeterProtocol"]


class BudgetExhausted(Exception):
    """A run budget (tokens, time, cost) ran out. A search strategy may set ``outcome`` to its
    best answer so far before letting it through; the engine answers with it."""

    def __init__(self, budget: str, detail: str = "") -> None:
        super().__init__(budget)
        self.budget = budget
        self.detail = detail
        self.outcome = None  # strategies.base.Outcome, when a strategy set one


class Cancelled(KeyboardInterrupt):
    """A caller cancelled the run (``cancel`` was set): handled exactly as Ctrl-C."""


class MeterProtocol(Protocol):
    """The model as a strategy sees it: every call is on the run's books."""

    @property
    def model(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    @property
    def context_size(self) -> int | None: ...

    def count_tokens(self, text: str) -> int: ...

    def chat_prompt(self, messages: list[Message]) -> str: ...

    def generate(self, messages: list[Message], params: GenParams, n: int = 1, label: str = "") -> Iterator[Event]:
        """Stream ``n`` samples (Token and Generation events, numbered run-wide)."""
        ...

    def complete(self, prompt: str, params: GenParams, n: int = 1, label: str = "") -> Iterator[Event]:
        """Stream ``n`` raw continuations of ``prompt`` (needs ``capabilities.raw_completion``)."""
        ...

    def draw(self, messages: list[Message], params: GenParams, n: int = 1, label: str = "") -> list[Generation]: ...

    def draw_raw(self, prompt: str, params: GenParams, n: int = 1, label: str = "") -> list[Generation]: ...

    def draw_on(self, backend, messages: list[Message] | str, params: GenParams, n: int = 1,
                label: str = "") -> list[Generation]:
        """Draw from another backend (a judge model) on this run's books."""
        ...
