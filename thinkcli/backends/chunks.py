"""Decoding OpenAI-style stream chunks into thinkcli events, pure and I/O-free.

Owns what a chunk means: answer text versus reasoning (``reasoning_content`` /
``reasoning`` fields and ``<think>...</think>`` blocks), per-token log-probs,
finish reasons and the usage block, including the estimate made when a server
reports none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from thinkcli.backends.base import estimate_tokens
from thinkcli.events import Generation, Token, ToolCall, Usage
from thinkcli.signals import Trace, top_k_stats

OPEN, CLOSE = "<think>", "</think>"
LOW_CONFIDENCE = "low-confidence"  # the finish reason of a sample DeepConf online stopped
REASONING_FIELDS = ("reasoning_content", "reasoning")


class ThinkSplitter:
    """Splits streamed text into answer and ``<think>`` reasoning, tags cut anywhere.

    >>> s = ThinkSplitter()
    >>> s.feed("<thi") + s.feed("nk>hmm</th") + s.feed("ink>42") + s.flush()
    [('reasoning', 'hmm'), ('answer', '42')]
    """

    def __init__(self) -> None:
        self.thinking = False
        self._held = ""  # a tail that may be the start of a tag

    def feed(self, text: str) -> list[tuple[str, str]]:
        text = self._held + text
        self._held = ""
        out: list[tuple[str, str]] = []
        while text:
            tag = CLOSE if self.thinking else OPEN
            kind = "reasoning" if self.thinking else "answer"
            at = text.find(tag)
            if at >= 0:
                if at:
                    out.append((kind, text[:at]))
                text = text[at + len(tag) :]
                self.thinking = not self.thinking
                continue
            keep = _partial_tag(text, tag)
            if len(text) > keep:
                out.append((kind, text[: len(text) - keep]))
            self._held = text[len(text) - keep :] if keep else ""
            break
        return out

    def flush(self) -> list[tuple[str, str]]:
        held, self._held = self._held, ""
        return [("reasoning" if self.thinking else "answer", held)] if held else []


def _partial_tag(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that starts ``tag``.

    >>> _partial_tag("abc</th", "</think>"), _partial_tag("abc", "<think>")
    (4, 0)
    """
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


@dataclass
class Choice:
    """What one choice of a stream has produced so far."""

    sample: int
    splitter: ThinkSplitter = field(default_factory=ThinkSplitter)
    answer: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    trace: Trace = field(default_factory=Trace)  # log-probs and top-k confidence, token by token
    pieces: int = 0  # deltas received: a stand-in for tokens when splitting usage
    finish_reason: str | None = None
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)  # tool calls so far, by index

    def add(self, text: str, kind: str | None = None) -> list[Token]:
        """Record a delta; ``kind`` None means 'answer unless inside <think>'."""
        if not text:
            return []
        self.pieces += 1
        parts = [(kind, text)] if kind else self.splitter.feed(text)
        return self._tokens(parts)

    def close(self) -> list[Token]:
        return self._tokens(self.splitter.flush())

    def _tokens(self, parts: list[tuple[str, str]]) -> list[Token]:
        out = []
        for kind, piece in parts:
            (self.reasoning if kind == "reasoning" else self.answer).append(piece)
            out.append(Token(self.sample, piece, kind))
        return out

    def add_call(self, raw: dict[str, Any]) -> ToolCall | None:
        """Record one ``delta.tool_calls`` item; the event passes it on unchanged."""
        index = raw.get("index", len(self.calls))
        if not isinstance(index, int):
            return None
        fn = raw.get("function") if isinstance(raw.get("function"), dict) else {}
        delta = ToolCall(self.sample, index, str(raw.get("id") or ""), str(fn.get("name") or ""),
                         str(fn.get("arguments") or ""))
        call = self.calls.setdefault(index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        call["id"] = delta.id or call["id"]
        call["function"]["name"] += delta.name
        call["function"]["arguments"] += delta.arguments
        self.pieces += 1
        return delta

    @property
    def text(self) -> str:
        return "".join(self.answer)

    @property
    def logprobs(self) -> list[float]:
        return self.trace.logprobs

    def add_logprobs(self, raw: dict[str, Any]) -> None:
        """Record a chunk's per-token log-probs and, where the server sent them, top-k lists."""
        for lp, top in zip(choice_logprobs(raw), _padded(choice_top_logprobs(raw)), strict=False):
            self.trace.add(lp, *top_k_stats(top))


def tool_call_items(choice: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool-call items of a streamed (``delta``) or whole (``message``) chat choice.

    >>> tool_call_items({"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{"}}]}})
    [{'index': 0, 'function': {'arguments': '{'}}]
    """
    delta = choice.get("delta") or choice.get("message") or {}
    calls = delta.get("tool_calls") if isinstance(delta, dict) else None
    if not isinstance(calls, list):
        return []
    return [{"index": k, **c} if "index" not in c else c for k, c in enumerate(calls) if isinstance(c, dict)]


def choice_deltas(choice: dict[str, Any], chat: bool) -> list[tuple[str | None, str]]:
    """(kind, text) pieces of one streamed choice, reasoning fields first.

    >>> choice_deltas({"delta": {"reasoning_content": "r", "content": "a"}}, chat=True)
    [('reasoning', 'r'), (None, 'a')]
    >>> choice_deltas({"text": "x"}, chat=False)
    [(None, 'x')]
    """
    if not chat:
        return [(None, choice.get("text") or "")]
    delta = choice.get("delta") or choice.get("message") or {}
    out: list[tuple[str | None, str]] = []
    for name in REASONING_FIELDS:
        value = delta.get(name)
        if isinstance(value, str) and value:
            out.append(("reasoning", value))
            break  # some servers send both names with the same text
    content = delta.get("content")
    if isinstance(content, str) and content:
        out.append((None, content))
    return out


def choice_logprobs(choice: dict[str, Any]) -> list[float]:
    """Per-token log-probs of a chat (``content``) or completions (``token_logprobs``) choice.

    >>> choice_logprobs({"logprobs": {"content": [{"token": "a", "logprob": -0.5}]}})
    [-0.5]
    >>> choice_logprobs({"logprobs": {"token_logprobs": [-1.0, None]}})
    [-1.0]
    """
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        return []
    if isinstance(lp.get("content"), list):
        return [float(t["logprob"]) for t in lp["content"] if isinstance(t, dict) and t.get("logprob") is not None]
    if isinstance(lp.get("token_logprobs"), list):
        return [float(x) for x in lp["token_logprobs"] if isinstance(x, (int, float))]
    return []


def choice_top_logprobs(choice: dict[str, Any]) -> list[list[float]]:
    """Per-token top-k log-probs of a chat (``top_logprobs`` lists) or completions
    (``top_logprobs`` dicts) choice; empty when the server sent none.

    >>> choice_top_logprobs({"logprobs": {"content": [{"logprob": -0.1, "top_logprobs": [
    ...     {"token": "a", "logprob": -0.1}, {"token": "b", "logprob": -2.5}]}]}})
    [[-0.1, -2.5]]
    >>> choice_top_logprobs({"logprobs": {"token_logprobs": [-1.0], "top_logprobs": [{"x": -1.0, "y": -1.5}]}})
    [[-1.0, -1.5]]
    """
    lp = choice.get("logprobs")
    if not isinstance(lp, dict):
        return []
    out: list[list[float]] = []
    if isinstance(lp.get("content"), list):
        for t in lp["content"]:
            if isinstance(t, dict) and t.get("logprob") is not None:
                tops = t.get("top_logprobs") or []
                out.append([float(x["logprob"]) for x in tops if isinstance(x, dict) and _finite(x.get("logprob"))])
        return out
    tops = lp.get("top_logprobs")
    if isinstance(tops, list):
        return [[float(v) for v in d.values() if _finite(v)] if isinstance(d, dict) else [] for d in tops]
    return []


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and x == x and abs(x) != float("inf")


def _padded(tops: list[list[float]]):
    """Each token's top-k list, then empty lists for ever (a server that sends none)."""
    yield from tops
    while True:
        yield []


def parse_usage(usage: Any) -> Usage | None:
    """The usage block of a final chunk, with reasoning and cached tokens where reported.

    >>> parse_usage({"prompt_tokens": 9, "completion_tokens": 30,
    ...              "completion_tokens_details": {"reasoning_tokens": 20},
    ...              "prompt_tokens_details": {"cached_tokens": 4}})
    Usage(prompt_tokens=9, completion_tokens=30, reasoning_tokens=20, cached_tokens=4, estimated=False)
    """
    if not isinstance(usage, dict) or "completion_tokens" not in usage:
        return None
    details = usage.get("completion_tokens_details") or {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    return Usage(
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
        int(details.get("reasoning_tokens") or usage.get("reasoning_tokens") or 0),
        int(prompt_details.get("cached_tokens") or 0),
    )


def split_usage(total: Usage, choices: list[Choice]) -> list[Usage]:
    """Share one request's usage among its choices: the prompt once (billed once), completion
    and reasoning tokens in proportion to what each choice streamed; the sums stay exact.

    >>> a, b = Choice(0, pieces=3), Choice(1, pieces=1)
    >>> [u.completion_tokens for u in split_usage(Usage(10, 8), [a, b])]
    [6, 2]
    """
    weights = [max(c.pieces, 1) for c in choices]
    out = []
    given_c = given_r = 0
    for k, w in enumerate(weights):
        last = k == len(weights) - 1
        comp = total.completion_tokens - given_c if last else total.completion_tokens * w // sum(weights)
        reas = total.reasoning_tokens - given_r if last else total.reasoning_tokens * w // sum(weights)
        given_c += comp
        given_r += reas
        first = k == 0
        out.append(Usage(total.prompt_tokens if first else 0, comp, reas, total.cached_tokens if first else 0))
    return out


def estimated_usage(prompt_text: str, choice: Choice, prompt_counted: bool) -> Usage:
    """Counts from the text, marked estimated, for a server that reported no usage."""
    reasoning = estimate_tokens("".join(choice.reasoning))
    return Usage(
        0 if prompt_counted else estimate_tokens(prompt_text),
        estimate_tokens(choice.text) + reasoning,
        reasoning,
        estimated=True,
    )


def finish(choice: Choice, usage: Usage, finish_reason: str | None = None, window: int = 16) -> Generation:
    return Generation(
        choice.sample,
        choice.text,
        usage,
        finish_reason=finish_reason or choice.finish_reason or "stop",
        reasoning="".join(choice.reasoning),
        logprobs=list(choice.logprobs) or None,
        tool_calls=[choice.calls[k] for k in sorted(choice.calls)] or None,
        signals=choice.trace.signals(window) if choice.logprobs else {},
        approximate=bool(choice.logprobs),
    )
