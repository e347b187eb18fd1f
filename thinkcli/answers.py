"""Extracting final answers from model text, and normalising them for voting.

Pure functions only. ``extract`` finds what a sample answered; ``vote_key``
maps answers that mean the same thing to one key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_THINK_BLOCK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_FINAL = re.compile(
    r"(?:^|\n)[ \t>*_#-]*final[ \t]+answer[ \t*_]*(?:is)?[ \t]*[:：][ \t*_]*", re.IGNORECASE
)
_THE_ANSWER_IS = re.compile(r"\bthe (?:final )?answer is[:\s]+", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?%?")


@dataclass(frozen=True)
class Extracted:
    answer: str
    marked: bool  # True when the model marked its answer (Final answer:, \\boxed{}, ...)


def strip_reasoning(text: str) -> str:
    """Drop ``<think>...</think>`` blocks: reasoning is never the answer.

    >>> strip_reasoning("<think>hmm</think>42")
    '42'
    """
    return _THINK_BLOCK.sub("", text).strip()


def _clean(answer: str) -> str:
    answer = answer.strip()
    # Markdown emphasis the model wrapped around the answer.
    answer = re.sub(r"^[*_`]+|[*_`]+$", "", answer).strip()
    return answer


def extract(text: str) -> Extracted:
    """The final answer of a sample.

    Prefers the text after the last ``Final answer:`` marker, then ``\\boxed{}``,
    then "the answer is ..."; otherwise the whole reply (unmarked).

    >>> extract("17 * 23 = 391.\\nFinal answer: 391").answer
    '391'
    >>> extract("**Final Answer:** 42").answer
    '42'
    >>> extract("so \\\\boxed{7}").answer
    '7'
    >>> extract("I think the answer is 12.").answer
    '12'
    >>> e = extract("Paris is the capital.")
    >>> (e.answer, e.marked)
    ('Paris is the capital.', False)
    """
    body = strip_reasoning(text)
    matches = list(_FINAL.finditer(body))
    if matches:
        tail = _clean(body[matches[-1].end():])
        if tail:
            # A one-line answer stops at the end of its line; a block answer runs on.
            first, _, rest = tail.partition("\n")
            if first.strip() and not first.strip().startswith("```"):
                return Extracted(_clean(first.rstrip(".")) or first.strip(), True)
            return Extracted(tail, True)
    boxed = _BOXED.findall(body)
    if boxed:
        return Extracted(boxed[-1].strip(), True)
    said = list(_THE_ANSWER_IS.finditer(body))
    if said:
        line = body[said[-1].end():].split("\n", 1)[0]
        line = _clean(line.rstrip(". "))
        if line:
            return Extracted(line, True)
    return Extracted(body.strip(), False)


_CHOICE = re.compile(r"^\(?([A-Ea-e])[).:]?(?:\s|$)")
_YES = {"yes", "y", "true", "correct"}
_NO = {"no", "n", "false", "incorrect"}


def _number_key(token: str) -> str | None:
    token = token.replace("$", "").replace(",", "").replace(" ", "").rstrip("%")
    try:
        value = Fraction(token) if "/" in token else Fraction(token)
    except (ValueError, ZeroDivisionError):
        return None
    if value.denominator == 1:
        return str(value.numerator)
    return f"{value.numerator}/{value.denominator}"


def _code_key(answer: str) -> str | None:
    m = re.search(r"```[^\n]*\n(.*?)```", answer, re.DOTALL)
    if not m:
        return None
    lines = []
    for line in m.group(1).splitlines():
        line = re.sub(r"\s+#.*$|^\s*#.*$|\s*//.*$", "", line).strip()
        if line:
            lines.append(re.sub(r"\s+", " ", line))
    return "code:" + "\n".join(lines)


def vote_key(answer: str | None) -> str | None:
    """A key under which equal answers collide.

    >>> vote_key("391") == vote_key("The result is 391.") == vote_key("391.0")
    True
    >>> vote_key("1/2") == vote_key("0.5")
    True
    >>> vote_key("(B) because...") == vote_key("b")
    True
    >>> vote_key("Yes.") == vote_key("yes")
    True
    >>> vote_key("  Paris!! ") == vote_key("paris")
    True
    >>> vote_key("") is None
    True
    """
    if answer is None:
        return None
    text = answer.strip()
    if not text:
        return None
    code = _code_key(text)
    if code is not None:
        return code
    choice = _CHOICE.match(text)
    if choice and (len(text) <= 3 or text[1:3] in (") ", ". ", ": ", ")") or text[0] == "("):
        return "choice:" + choice.group(1).upper()
    words = re.sub(r"[^\w\s]", "", text.lower()).split()
    if words and words[0] in _YES | _NO and len(words) <= 3:
        return "yes" if words[0] in _YES else "no"
    numbers = _NUMBER.findall(text)
    if numbers:
        key = _number_key(numbers[-1])
        if key is not None:
            return key
    return " ".join(words) or None
