"""Option values checked without pydantic when they are plainly valid: a start-up saving.

Typer 0.2x turns every option value into its Python type through a pydantic TypeAdapter,
built on first use; importing pydantic and building the adapters was a quarter of the
start-up of `think batch` (about 60 ms of 220 with bytecode cached). ``lean(command)``
gives each parameter a coercion that settles the plain cases itself (a string; a whole or
decimal number written plainly and inside its range; one of a choice's values; a list of
strings) and hands everything else to typer's own coercion, so every error message, and
every value it is not sure of, is still typer's. A typer without that machinery is left alone.
"""

from __future__ import annotations

import re
from enum import Enum
from functools import cache
from typing import Any

_SLOW = object()  # "ask typer"
_WHOLE = re.compile(r"-?(?:0|[1-9][0-9]{0,17})")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]{0,17})(?:\.[0-9]{1,17})?")


def quick(descriptor, value: Any, ctx=None, choose=None) -> Any:
    """``value`` as typer would coerce it for a parameter of this type, or ``_SLOW`` when
    only typer can say (a malformed or out-of-range number, a wrong choice, another type)."""
    annotation, info = descriptor.annotation, descriptor.parameter_info
    if descriptor.file_annotation is not None or info.parser is not None or getattr(info, "clamp", False):
        return _SLOW
    if annotation is str or annotation is bool:
        return value if type(value) is annotation else _SLOW
    if annotation is int or annotation is float:
        if isinstance(value, str) and (_WHOLE if annotation is int else _DECIMAL).fullmatch(value):
            number = annotation(value)
        elif type(value) is annotation:
            number = value
        else:
            return _SLOW
        low, high = info.min, info.max
        return _SLOW if (low is not None and number < low) or (high is not None and number > high) else number
    if isinstance(annotation, type) and issubclass(annotation, Enum) and choose is not None:
        try:
            return choose(value, choices=tuple(annotation), case_sensitive=info.case_sensitive, ctx=ctx)
        except ValueError:
            return _SLOW
    if annotation == list[str] and isinstance(value, (list, tuple)) and all(type(v) is str for v in value):
        return list(value)
    return _SLOW


@cache
def _lean_class():
    """The RuntimeParam subclass that tries ``quick`` first; None for a typer without them."""
    try:
        from dataclasses import dataclass

        from typer._coercion import RuntimeParam, build_runtime_param
        from typer._param_types import coerce_cli_choice
    except ImportError:
        return None

    @dataclass(frozen=True)
    class Lean(RuntimeParam):
        descriptor: Any = None

        def _coerce_value(self, value, param, ctx):
            done = quick(self.descriptor, value, ctx, coerce_cli_choice)
            if done is not _SLOW:
                return done
            full = build_runtime_param(self.descriptor)  # typer's own, pydantic and all
            param._runtime_param = full
            return full._coerce_value(value, param=param, ctx=ctx)

    return Lean


def lean(command) -> None:
    """Give every typer parameter of ``command`` and its subcommands the quick coercion,
    the --help options (made on first use) included."""
    cls = _lean_class()
    if cls is None:
        return
    stack = [command]
    while stack:
        cmd = stack.pop()
        stack.extend(getattr(cmd, "commands", {}).values())
        for param in cmd.params:
            _lean_param(cls, param)
        _lean_help(cls, cmd)


def _lean_param(cls, param) -> None:
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None and getattr(param, "_runtime_param", "absent") is None:
        param._runtime_param = cls(descriptor.parameter_info, descriptor.annotation, descriptor)


def _lean_help(cls, cmd) -> None:
    make = getattr(cmd, "get_help_option", None)
    if make is None:
        return

    def get_help_option(ctx):
        option = make(ctx)
        if option is not None:
            _lean_param(cls, option)
        return option

    cmd.get_help_option = get_help_option
