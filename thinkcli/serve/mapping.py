"""From an OpenAI chat-completions body to one call of the library face.

Owns the addressing (``think-<effort>[/<model>]`` model names, the ``think``
body object that wins over the name, a plain model name meaning effort low),
the checks that turn a bad field into a 400, and the list of parameters that
are dropped with a note instead of being sent upstream to fail there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from thinkcli.serve.errors import APIError, bad_request

EFFORTS = ("low", "medium", "high", "auto")
PREFIX = "think-"
MAX_N = 16
ROLES = ("system", "developer", "user", "assistant", "tool")

# What the `think` object may set, and the kind of value: str, int, num (positive), bool.
# Never `verify` (a shell command) or a model reference: clients do not run commands or pick models here.
THINK_FIELDS: dict[str, str] = {
    "effort": "str",
    "strategy": "str",
    "samples": "int",
    "select": "str",
    "confidence": "num",
    "prompt_style": "str",
    "judge": "bool",
    "max_cost": "num",
    "max_total_tokens": "int",
    "time_limit": "num",
}
KINDS = {"str": ((str,), "a string"), "int": ((int,), "a positive integer"), "num": ((int, float), "a positive number"),
         "bool": ((bool,), "true or false")}
# OpenAI fields the server reads itself; everything else is dropped with a note.
HANDLED = {"model", "messages", "stream", "stream_options", "n", "max_tokens", "max_completion_tokens",
           "temperature", "seed", "tools", "tool_choice", "think"}


@dataclass
class ChatCall:
    """One parsed request: which model at which effort, the face's options, and how to answer."""

    name: str  # the model name as the client sent it (echoed back)
    served: str  # the served model's id
    effort: str
    options: dict[str, Any]
    n: int = 1
    stream: bool = False
    include_usage: bool = False
    dropped: list[str] = field(default_factory=list)

    @property
    def prompt(self) -> str:
        """The last user message: what the history log and the access log call the prompt."""
        return next(m["content"] for m in reversed(self.options["messages"]) if m["role"] == "user") or ""

    @property
    def notes(self) -> list[str]:
        if not self.dropped:
            return []
        return [f"dropped unsupported parameters: {', '.join(self.dropped)}"]


def split_name(name: str) -> tuple[str | None, str | None]:
    """(effort, model) of a model name; effort None for a plain name, model None for ``think-<effort>``.

    >>> split_name("think-high"), split_name("think-auto/openai:gpt-4o-mini"), split_name("gpt-4o")
    (('high', None), ('auto', 'openai:gpt-4o-mini'), (None, 'gpt-4o'))
    """
    if not name.startswith(PREFIX):
        return None, name
    effort, _, model = name[len(PREFIX):].partition("/")
    return effort, (model or None)


def parse(body: Any, lookup: Callable[[str | None], str | None], known: list[str],
          max_cost_cap: float | None = None) -> ChatCall:
    """Check ``body`` and map it; ``lookup`` turns a model name (None: the default) into a served id."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    name = body.get("model")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("'model' is required and must be a string, e.g. \"think-medium\"", "model")
    effort, model = split_name(name)
    if effort is not None and effort not in EFFORTS:
        raise APIError(404, f"The model {name!r} does not exist: unknown effort {effort!r}; "
                       f"use one of {', '.join(PREFIX + e for e in EFFORTS)}", param="model", code="model_not_found")
    served = lookup(model)
    if served is None:
        from thinkcli.serve.errors import unknown_model

        raise unknown_model(name, known)
    think = _think(body.get("think"))
    effort = think.pop("effort", None) or effort or "low"
    if effort not in EFFORTS:
        raise bad_request(f"think.effort must be one of {', '.join(EFFORTS)}, not {effort!r}", "think.effort")
    options: dict[str, Any] = {"messages": _messages(body.get("messages"))}
    options.update(think)
    for key in ("max_tokens", "max_completion_tokens"):
        if body.get(key) is not None:
            options["max_tokens"] = _number(body, key, int, low=1)
    if body.get("temperature") is not None:
        options["temperature"] = _number(body, "temperature", float, low=0.0, high=2.0)
    if body.get("seed") is not None:
        options["seed"] = _number(body, "seed", int)
    _tools(body, options)
    if effort == "low":
        options.setdefault("prompt_style", "plain")  # effort low is the model as is: the chat unchanged
    if "tools" in options and effort != "low":
        raise bad_request(f"tools are passed through at effort low only, not {effort!r}: a vote or a search "
                          "cannot choose between tool calls; use think-low or drop the tools", "tools")
    if max_cost_cap is not None:
        options["max_cost"] = min(options.get("max_cost", max_cost_cap), max_cost_cap)
    n = _number(body, "n", int, low=1, high=MAX_N) if body.get("n") is not None else 1
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("'stream' must be true or false", "stream")
    opts = body.get("stream_options")
    if opts is not None and not (isinstance(opts, dict) and isinstance(opts.get("include_usage", False), bool)):
        raise bad_request("'stream_options' must be an object like {\"include_usage\": true}", "stream_options")
    dropped = sorted(k for k in body if k not in HANDLED)
    return ChatCall(name, served, effort, options, n, stream, bool((opts or {}).get("include_usage")), dropped)


def _think(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request("'think' must be an object, e.g. {\"effort\": \"medium\"}", "think")
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key not in THINK_FIELDS:
            raise bad_request(f"think.{key} is not a known field; known: {', '.join(THINK_FIELDS)}", f"think.{key}")
        if item is None:
            continue
        kind = THINK_FIELDS[key]
        types, words = KINDS[kind]
        wrong = not isinstance(item, types) or (kind != "bool" and isinstance(item, bool))
        if wrong or (kind in ("int", "num") and item <= 0):
            raise bad_request(f"think.{key} must be {words}, not {item!r}", f"think.{key}")
        out[key] = item
    return out


def _number(body: dict, key: str, typ: type, low: float | None = None, high: float | None = None):
    value = body[key]
    ok = isinstance(value, int) or (typ is float and isinstance(value, float))
    if isinstance(value, bool) or not ok:
        raise bad_request(f"'{key}' must be {'an integer' if typ is int else 'a number'}, not {value!r}", key)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise bad_request(f"'{key}' must be {bounds}, not {value!r}", key)
    return typ(value)


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise bad_request("'messages' must be a non-empty array of {\"role\", \"content\"} objects", "messages")
    out = []
    for i, msg in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(msg, dict) or msg.get("role") not in ROLES:
            raise bad_request(f"{where} must be an object whose role is one of {', '.join(ROLES)}", where)
        content = msg.get("content")
        if isinstance(content, list):  # content parts: text only
            texts = []
            for part in content:
                if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                    raise bad_request(f"{where}.content: only text parts are supported", f"{where}.content")
                texts.append(part["text"])
            content = "".join(texts)
        if content is None and not (msg["role"] == "assistant" and msg.get("tool_calls")):
            raise bad_request(f"{where}.content is required", f"{where}.content")
        if content is not None and not isinstance(content, str):
            raise bad_request(f"{where}.content must be a string or an array of text parts", f"{where}.content")
        out.append({**msg, "content": content})
    if not any(m["role"] == "user" for m in out):
        raise bad_request("'messages' needs at least one user message", "messages")
    return out


def _tools(body: dict, options: dict[str, Any]) -> None:
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
        raise bad_request("'tools' must be an array of tool objects", "tools")
    if not tools:
        return
    options["tools"] = tools
    choice = body.get("tool_choice")
    if choice is not None:
        if not isinstance(choice, (str, dict)):
            raise bad_request("'tool_choice' must be a string or an object", "tool_choice")
        options["tool_choice"] = choice
