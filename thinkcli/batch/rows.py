"""Reading a batch's questions: JSONL rows or plain lines, each checked before anything runs.

A JSONL row is ``{"question": ..., "id"?: ..., "system"?: ..., <per-row overrides>}``;
with ``--lines`` every non-blank line is a question whose id is its line number.
Every problem is a one-line error naming the file and the line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from thinkcli.errors import UsageError
from thinkcli.jobs.output import id_key

NUMBER = (int, float)
# Keys a row may set for itself, with the types they take; they override the command's flags.
OVERRIDES: dict[str, tuple[type, ...]] = {
    "system": (str,),
    "effort": (str,),
    "strategy": (str,),
    "samples": (int,),
    "max_tokens": (int,),
    "temperature": NUMBER,
    "seed": (int,),
    "prompt_style": (str,),
    "confidence": NUMBER,
    "rounds": (int,),
    "beam_width": (int,),
    "think_min": (int,),
    "think_max": (int,),
    "time_limit": NUMBER,
    "verify": (str,),
    "verify_timeout": NUMBER,
    "judge": (bool,),
    "judge_model": (str,),
}


@dataclass
class Row:
    line: int  # 1-based line in the input
    id: Any  # as the row gave it (a string or an integer), else the line number
    question: str
    options: dict[str, Any] = field(default_factory=dict)  # the row's overrides

    @property
    def key(self) -> str:
        """The id as output rows are matched on (1 and "1" differ, as in the JSON)."""
        return id_key(self.id)


def parse(data: bytes, name: str, lines: bool = False) -> list[Row]:
    """Every question in ``data``; a bad row is a UsageError naming ``name:LINE``.

    >>> [(r.id, r.question, r.options) for r in parse(b'{"id": "a", "question": "1+1?", "effort": "high"}\\n\\n{"question": "2+2?"}\\n', "q.jsonl")]
    [('a', '1+1?', {'effort': 'high'}), (3, '2+2?', {})]
    >>> [(r.id, r.question) for r in parse(b"What is 2+2?\\r\\nName a colour.\\n", "-", lines=True)]
    [(1, 'What is 2+2?'), (2, 'Name a colour.')]
    >>> parse(b'{"question": "ok"}\\n{"answer": 4}\\n', "q.jsonl")
    Traceback (most recent call last):
    thinkcli.errors.UsageError: q.jsonl:2: the row has no "question" string
    """
    if data.startswith(b"\xef\xbb\xbf"):  # a BOM some editors write
        data = data[3:]
    rows: list[Row] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(data.split(b"\n"), 1):
        where = f"{name}:{number}"
        text = _decode(raw, where).rstrip("\r")
        if not text.strip():
            continue
        row = Row(number, number, text.strip()) if lines else _row(text, number, where)
        if row.key in seen:
            raise UsageError(f"{where}: id {row.key} repeats the id on line {seen[row.key]}; ids must be unique")
        seen[row.key] = number
        rows.append(row)
    if not rows:
        raise UsageError(f"{name} has no questions")
    return rows


def _decode(raw: bytes, where: str) -> str:
    if b"\x00" in raw:
        raise UsageError(f"{where}: binary data, not text; give UTF-8 JSONL (or text with --lines)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{where}: not UTF-8 text (byte {exc.start}); give UTF-8 JSONL (or text with --lines)") from None


def _row(text: str, number: int, where: str) -> Row:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: not JSON ({exc.msg}, column {exc.colno}); plain questions need --lines") from None
    if not isinstance(doc, dict):
        raise UsageError(f'{where}: a row must be a JSON object with a "question"')
    question = doc.get("question")
    if not isinstance(question, str) or not question.strip():
        raise UsageError(f'{where}: the row has no "question" string')
    ident = doc.get("id", number)
    if isinstance(ident, bool) or not isinstance(ident, (str, int)):
        raise UsageError(f'{where}: "id" must be a string or an integer')
    options = {}
    for key, types in OVERRIDES.items():
        if key not in doc or doc[key] is None:
            continue
        value = doc[key]
        if isinstance(value, bool) and bool not in types:
            value = None  # True is an int to Python, never a count here
        if not isinstance(value, types):
            want = {str: "a string", int: "an integer", bool: "true or false"}.get(types[0], "a number")
            raise UsageError(f'{where}: "{key}" must be {want}')
        options[key] = value
    return Row(number, ident, question, options)
