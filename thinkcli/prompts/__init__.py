"""Prompt templates, kept as package data files rather than string literals in code."""

from __future__ import annotations

from functools import cache
from importlib import resources

from thinkcli.backends.base import Message
from thinkcli.calc import computable
from thinkcli.config import CHOICES

# plain: the question exactly as given, no instructions; program: the expression that computes
# the answer, which thinkcli evaluates (calc.py), for questions with something to compute
STYLES = CHOICES["prompt_style"]


@cache
def load(name: str) -> str:
    return resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")


def render(name: str, **fields: str) -> str:
    text = load(name)
    for key, value in fields.items():
        text = text.replace("{" + key + "}", value)
    return text


def ask(question: str, style: str) -> str:
    """A user turn asking ``question`` in a prompt style.

    >>> ask("2+2?", "plain")
    '2+2?'
    >>> ask("Is 4 even? Answer yes or no.", "program") == ask("Is 4 even? Answer yes or no.", "direct")
    True
    """
    if style not in STYLES:
        raise ValueError(f"unknown prompt style {style!r}")
    if style == "program" and not computable(question):
        style = "direct"
    return question if style == "plain" else render(style, question=question.strip())


def messages(question: str, style: str, system: str | None = None,
             conversation: list[Message] | None = None) -> list[Message]:
    """The conversation asking ``question`` in a prompt style ('direct', 'steps' or 'plain').
    With ``conversation`` (a chat as a client sent it) every turn is kept and only its last
    user turn is asked in the style; 'plain' sends it unchanged.

    >>> chat = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
    ...         {"role": "user", "content": "2+2?"}]
    >>> messages("", "plain", conversation=chat) == chat
    True
    >>> turn = messages("", "direct", conversation=chat)[2]["content"]
    >>> turn.startswith("2+2?") and "Answer directly." in turn
    True
    """
    if conversation:
        out = [dict(m) for m in conversation]
        last = max(i for i, m in enumerate(out) if m.get("role") == "user")
        out[last]["content"] = ask(out[last]["content"], style)
        return out
    head: list[Message] = [{"role": "system", "content": system}] if system else []
    return [*head, {"role": "user", "content": ask(question, style)}]
