"""Prices: the shipped table (``data/prices.toml``), the user's overrides, the cost of a Usage.

Prices are USD per million input, output, reasoning and cached tokens. A model
with no known price costs ``None`` (shown as ``n/a``), never a guessed number.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from thinkcli.errors import ConfigError
from thinkcli.events import Usage

FIELDS = ("input", "output", "reasoning", "cached")


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    reasoning: float | None = None  # None: billed as output
    cached: float | None = None  # None: billed as input

    def cost(self, u: Usage) -> float:
        """USD for ``u``; reasoning tokens are part of completion tokens, cached part of prompt.

        >>> round(Price(0.15, 0.60, cached=0.075).cost(Usage(1_000_000, 1_000_000, 0, 500_000)), 4)
        0.7125
        >>> round(Price(1.0, 4.0, reasoning=2.0).cost(Usage(0, 1_000_000, 500_000)), 4)
        3.0
        """
        cached = min(u.cached_tokens, u.prompt_tokens)
        reasoning = min(u.reasoning_tokens, u.completion_tokens) if self.reasoning is not None else 0
        usd = (u.prompt_tokens - cached) * self.input + cached * (self.input if self.cached is None else self.cached)
        usd += (u.completion_tokens - reasoning) * self.output + reasoning * (self.reasoning or 0.0)
        return usd / 1_000_000


def _parse(text: str, where: str) -> dict[str, Price]:
    from thinkcli.config import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"price file {where} is not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"price file {where} is nested too deeply to read") from None
    table = data.get("models", {})
    if not isinstance(table, dict):
        raise ConfigError(f"price file {where}: 'models' must be a table of [models.\"NAME\"] entries")
    out: dict[str, Price] = {}
    for name, row in table.items():
        if not isinstance(row, dict) or not {"input", "output"} <= set(row):
            raise ConfigError(f"price file {where}: model {name!r} needs input and output prices (USD per million)")
        unknown = set(row) - set(FIELDS)
        if unknown:
            raise ConfigError(f"price file {where}: model {name!r} has unknown field(s) {', '.join(sorted(unknown))}")
        for key, value in row.items():
            # NaN passes `< 0` and would make every cost NaN and --max-cost unenforceable.
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise ConfigError(f"price file {where}: {name}.{key} must be a number >= 0, got {value!r}")
        out[name] = Price(**{k: float(v) for k, v in row.items()})
    return out


@functools.lru_cache(maxsize=1)  # package data: parsed once (a batch prices every question)
def shipped() -> dict[str, Price]:
    text = resources.files("thinkcli").joinpath("data/prices.toml").read_text("utf-8")
    return _parse(text, "thinkcli/data/prices.toml")


def user_path() -> Path:
    from thinkcli.config import config_dir

    return config_dir() / "prices.toml"


_parsed: dict[tuple, dict[str, Price]] = {}  # (path, mtime, size) -> table: reparsed only when the file changes


def user() -> dict[str, Price]:
    path = user_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read price file {path}: {exc}") from None
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _parsed:
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read price file {path}: {exc}") from None
        _parsed.clear()
        _parsed[key] = _parse(text, str(path))
    return _parsed[key]


def candidates(model: str) -> list[str]:
    """Names to look a model up by, most specific first.

    >>> candidates("openrouter:openai/gpt-4o-mini-2024-07-18")
    ['openrouter:openai/gpt-4o-mini-2024-07-18', 'openai/gpt-4o-mini-2024-07-18', 'gpt-4o-mini-2024-07-18', 'gpt-4o-mini']
    """
    names = [model]
    _, sep, rest = model.partition(":")
    if sep and rest:
        names.append(rest)
    names.append(names[-1].rsplit("/", 1)[-1])
    undated = re.sub(r"-\d{4}-\d{2}-\d{2}$", "", names[-1])
    names.append(undated)
    return list(dict.fromkeys(names))


def lookup(model: str) -> Price | None:
    """The user's price for a model if set, else the shipped one, else None."""
    tables = [user(), shipped()]
    for name in candidates(model):
        for table in tables:
            if name in table:
                return table[name]
    return None


def price_function(model: str, settings: dict | None = None) -> Callable[[Usage], float | None]:
    """``Usage -> USD``, or ``-> None`` for every usage when the model's price is unknown."""
    price = lookup(model)
    if price is None:
        return lambda usage: None
    return price.cost
