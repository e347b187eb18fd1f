"""What one run is asked to do (``Request``), and the one builder that makes it.

``build_request(prompt, **options)`` is how the command line, ``think fix``,
``think bench`` and the Python API all turn options into a ``Request``: every
ask flag by its Python name, each resolved as keyword > ``THINK_*`` environment
> config file > default, and checked the way the command line checks it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from thinkcli import config
from thinkcli.errors import ConfigError, UsageError


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
    messages: list[dict[str, Any]] | None = None  # a whole chat; its last user turn is the prompt


# Ask options -> their type; numbers are range-checked by config.RANGES, as flags and config values are.
OPTIONS: dict[str, type] = {
    "system": str, "model": str, "effort": str, "samples": int, "max_tokens": int, "temperature": float,
    "seed": int, "prompt_style": str, "strategy": str, "confidence": float, "select": str, "judge": bool,
    "judge_model": str,
    "rounds": int, "beam_width": int, "think_min": int, "think_max": int, "max_total_tokens": int,
    "time_limit": float, "max_cost": float, "verify": str, "verify_timeout": float, "verify_env": list,
    "threads": int, "base_url": str, "parallel": int, "max_retries": int, "messages": list, "tools": list,
}
PLAN_OPTIONS = ("confidence", "rounds", "beam_width", "think_min", "think_max", "select")
# Settings a keyword overrides for the backend (and the config-only knobs, by the same name).
BACKEND_OPTIONS = ("threads", "base_url", "parallel", "max_retries", "context", "connect_timeout", "read_timeout")


def option_names() -> tuple[str, ...]:
    """Every keyword ``build_request`` takes besides the prompt.

    >>> "max_tokens" in option_names() and "context" in option_names()
    True
    """
    return tuple(dict.fromkeys([*OPTIONS, *BACKEND_OPTIONS, "tool_choice", "settings"]))


def check(name: str, value: Any) -> Any:
    """One option's value, checked like its flag; None means "not given".

    >>> check("samples", 5), check("temperature", 1), check("effort", "high")
    (5, 1.0, 'high')
    >>> check("samples", 0)
    Traceback (most recent call last):
    ...
    thinkcli.errors.UsageError: samples must be a number from 1 to 256, got 0
    >>> check("effort", "max")
    Traceback (most recent call last):
    ...
    thinkcli.errors.UsageError: effort must be one of low, medium, high, auto, got 'max'
    """
    if value is None or name not in OPTIONS:
        return value
    typ = OPTIONS[name]
    if hasattr(value, "value") and isinstance(value.value, str):  # a CLI choice enum
        value = value.value
    if typ is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if name == "messages" and isinstance(value, list):
        check_messages(value)
    if name == "tools" and isinstance(value, list) and not all(isinstance(t, dict) for t in value):
        raise UsageError("tools must be a list of OpenAI tool objects")
    if typ is list and isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    if not isinstance(value, typ) or (typ is not bool and isinstance(value, bool)):
        raise UsageError(f"{name} must be {typ.__name__}, got {value!r}")
    try:
        config.check_number(name, value, name)
    except ConfigError as exc:
        raise UsageError(exc.message) from None
    if name in config.CHOICES and value not in config.CHOICES[name]:
        raise UsageError(f"{name} must be one of {', '.join(config.CHOICES[name])}, got {value!r}")
    if name == "strategy":
        from thinkcli.strategies import spec

        spec(value)  # a UsageError naming the choices when neither the table nor a plugin has it
    if name == "select":
        from thinkcli.select import parse_rule

        return str(parse_rule(value))  # its normal spelling; a bad rule is a UsageError here
    if name == "verify" and not value.strip():
        raise UsageError('--verify needs a command, e.g. --verify "python -m pytest -q"')
    return value


def check_messages(messages: list) -> None:
    """A chat as OpenAI clients send it: role/content objects with at least one user turn.

    >>> check_messages([{"role": "system", "content": "x"}])
    Traceback (most recent call last):
    ...
    thinkcli.errors.UsageError: messages need at least one user message
    """
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise UsageError(f"messages[{i}] must be an object with a role")
        content = m.get("content")
        if not isinstance(content, str) and not (content is None and m.get("tool_calls")):
            raise UsageError(f"messages[{i}].content must be a string")
    if not any(m["role"] == "user" for m in messages):
        raise UsageError("messages need at least one user message")


def build_request(prompt: str, *, settings: Mapping[str, Any] | None = None,
                  environ: Mapping[str, str] | None = None, **options: Any) -> Request:
    """THE builder of a Request: keyword > ``THINK_*`` > config file > default.

    ``settings`` are already-loaded effective settings (``config.load()``), so a caller
    building many requests reads the config once; ``environ`` replaces ``os.environ``.
    An unknown keyword is a UsageError. ``messages`` (a whole chat, as OpenAI clients send
    it) stands in for ``system``: every turn is sent and only the last user turn is asked in
    the prompt style (``plain`` sends it unchanged). ``tools`` and ``tool_choice`` pass
    through to an OpenAI-compatible model, at effort low only.

    >>> r = build_request("2+2?", settings={"effort": "low"}, samples=3, confidence=0.9)
    >>> r.samples, r.effort, r.plan_overrides
    (3, 'low', {'confidence': 0.9})
    >>> build_request("2+2?", settings={}, sample=3)
    Traceback (most recent call last):
    ...
    thinkcli.errors.UsageError: unknown option 'sample'; known: system, model, effort, samples, ...
    """
    known = option_names()
    for name in options:
        if name not in known:
            near = ", ".join(known[:4])
            raise UsageError(f"unknown option {name!r}; known: {near}, ...")
    opts = {k: check(k, v) for k, v in options.items()}
    if settings is None:
        settings = config.load(environ)
    settings = dict(settings)
    settings.update({k: opts[k] for k in BACKEND_OPTIONS if opts.get(k) is not None})

    def pick(name: str, default: Any = None) -> Any:
        value = opts.get(name)
        return value if value is not None else settings.get(name, default)

    judge_model = opts.get("judge_model")
    messages = opts.get("messages")
    effort = pick("effort", "low") or "low"
    plan_overrides = {k: opts[k] for k in PLAN_OPTIONS if opts.get(k) is not None}
    rule = check("select", pick("select"))  # the keyword's, or THINK_SELECT's, or the config's
    if rule is not None:
        plan_overrides["select"] = rule
    if opts.get("tools"):
        strategy = pick("strategy")
        if effort != "low" or strategy not in (None, "cot"):
            raise UsageError(f"tools are passed through at effort low only (one sample), not effort {effort}"
                             f"{' strategy ' + strategy if strategy else ''}: a vote or a search cannot choose "
                             "between tool calls")
        plan_overrides["tools"] = tuple(opts["tools"])
        if opts.get("tool_choice") is not None:
            if not isinstance(opts["tool_choice"], (str, dict)):
                raise UsageError("tool_choice must be a string or an object")
            plan_overrides["tool_choice"] = opts["tool_choice"]
    if messages and not prompt:  # the chat's last user turn is what history and judges call the prompt
        prompt = next(m["content"] for m in reversed(messages) if m["role"] == "user")
    return Request(
        prompt=prompt,
        system=None if messages else pick("system"),  # a chat brings its own system turn
        model=opts.get("model") or settings.get("model"),
        effort=effort,
        strategy=pick("strategy"),
        samples=pick("samples"),
        max_tokens=pick("max_tokens"),
        temperature=pick("temperature"),
        seed=pick("seed"),
        prompt_style=pick("prompt_style"),
        budgets=Budgets(
            max_total_tokens=opts.get("max_total_tokens") or settings.get("max_total_tokens"),
            time_limit=pick("time_limit"),
            max_cost=pick("max_cost"),
        ),
        verify=opts.get("verify"),
        verify_timeout=pick("verify_timeout", 60.0),
        verify_env=config.env_names(opts.get("verify_env"), settings),
        plan_overrides=plan_overrides,
        judge=bool(opts.get("judge")) or judge_model is not None,
        judge_model=judge_model,
        settings=settings,
        messages=messages,
    )
