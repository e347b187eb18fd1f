"""Prompt templates, kept as package data files rather than string literals in code."""

from __future__ import annotations

from functools import cache
from importlib import resources

from thinkcli.backends.base import Message

STYLES = ("direct", "steps")


@cache
def load(name: str) -> str:
    return resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")


def render(name: str, **fields: str) -> str:
    text = load(name)
    for key, value in fields.items():
        text = text.replace("{" + key + "}", value)
    return text


def messages(question: str, style: str, system: str | None = None) -> list[Message]:
    """The conversation asking ``question`` in a prompt style ('direct' or 'steps')."""
    if style not in STYLES:
        raise ValueError(f"unknown prompt style {style!r}")
    out: list[Message] = []
    if system:
        out.append({"role": "system", "content": system})
    out.append({"role": "user", "content": render(style, question=question.strip())})
    return out
