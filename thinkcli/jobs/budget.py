"""Batch-wide budgets: a question starts only when its worst case fits beside what is spent and reserved.

Each question in flight holds a reservation (the most it may spend, which the
engine enforces as that question's own budget), so however many run at once the
batch never spends past ``--max-cost`` or ``--max-total-tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Need:
    """The most one question may spend: tokens (prompt + completion) and USD (None: free or unpriced)."""

    tokens: int
    cost: float | None = None


@dataclass
class Ledger:
    """
    >>> book = Ledger(max_cost=1.0)
    >>> book.reserve(Need(100, 0.4)), book.reserve(Need(100, 0.4)), book.blocks(Need(100, 0.4))
    (None, None, 'cost')
    >>> book.settle(Need(100, 0.4), tokens=50, cost=0.1); book.blocks(Need(100, 0.4)) is None
    True
    """

    max_cost: float | None = None
    max_tokens: int | None = None
    spent_tokens: int = 0
    spent_cost: float = 0.0
    reserved_tokens: int = 0
    reserved_cost: float = 0.0

    def blocks(self, need: Need) -> str | None:
        """Which budget the question could overspend ('cost' | 'tokens'), or None when it fits."""
        if self.max_cost is not None and need.cost is not None:
            if self.spent_cost + self.reserved_cost + need.cost > self.max_cost + 1e-12:
                return "cost"
        if self.max_tokens is not None and self.spent_tokens + self.reserved_tokens + need.tokens > self.max_tokens:
            return "tokens"
        return None

    def reserve(self, need: Need) -> str | None:
        """Hold ``need`` for a question about to start; the budget that blocks it, if one does."""
        why = self.blocks(need)
        if why is None:
            self.reserved_tokens += need.tokens
            self.reserved_cost += need.cost or 0.0
        return why

    def settle(self, need: Need, tokens: int, cost: float | None) -> None:
        """A question ended: release its reservation, book what it really spent."""
        self.reserved_tokens -= need.tokens
        self.reserved_cost -= need.cost or 0.0
        self.spent_tokens += tokens
        self.spent_cost += cost or 0.0

    def caps(self, need: Need) -> dict:
        """The question's own budgets: it may spend its reservation and no more."""
        out = {}
        if self.max_cost is not None and need.cost is not None:
            out["max_cost"] = need.cost
        if self.max_tokens is not None:
            out["max_total_tokens"] = need.tokens
        return out
