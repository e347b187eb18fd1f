"""Extracting final answers from model text, and normalising them for voting.

Pure functions only. ``extract`` finds what a sample answered; ``vote_key``
maps answers that mean the same thing to one key: numbers by value (integers,
decimals, fractions, thousands separators, currency), multiple-choice letters,
yes/no, code blocks after comment and whitespace normalisation, and short free
text compared case- and punctuation-insensitively.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass
from fractions import Fraction

_THINK_BLOCK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
# "Final answer:" at the start of a line or inside one ("The answer is "Final answer: 12".").
_FINAL = re.compile(
    r"(?:^|\n|(?<=[\s\"'(]))[ \t>*_#-]*final[ \t]+answer[ \t*_]*(?:is)?[ \t]*[:：][ \t*_]*", re.IGNORECASE
)
_THE_ANSWER_IS = re.compile(r"\bthe (?:final )?answer is[:\s]+", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
_NUMBER = re.compile(r"(?<![\w.])-?\$?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?%?")
_QUOTES = "\"'“”‘’`"


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
    """Markdown emphasis, quotes and a closing full stop the model put around the answer.

    >>> _clean('"12".')
    '12'
    >>> _clean("**Paris**")
    'Paris'
    """
    answer = answer.strip()
    for _ in range(3):  # wrappers nest: **"12"**.
        before = answer
        answer = re.sub(r"^[*_`]+|[*_`]+$", "", answer).strip()
        answer = answer.rstrip(".").strip() if not answer.endswith("...") else answer
        if not answer:
            break
        if len(answer) >= 2 and answer[0] in _QUOTES and answer[-1] in _QUOTES:
            answer = answer[1:-1].strip()
        elif answer[-1:] in _QUOTES and answer.count(answer[-1]) == 1:
            answer = answer[:-1].strip()  # a quote opened before the marker: "Final answer: 12"
        if answer == before:
            break
    return answer


def extract(text: str) -> Extracted:
    """The final answer of a sample.

    Prefers the text after the last ``Final answer:`` marker, then ``\\boxed{}``,
    then "the answer is ..."; otherwise the whole reply (unmarked).

    >>> extract("17 * 23 = 391.\\nFinal answer: 391").answer
    '391'
    >>> extract("**Final Answer:** 42").answer
    '42'
    >>> extract('So he has 12. The answer is "Final answer: 12".').answer
    '12'
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
        tail = body[matches[-1].end():].strip()
        if tail:
            # A one-line answer stops at the end of its line; a block answer runs on.
            first, _, rest = tail.partition("\n")
            if first.strip() and not first.strip().startswith("```"):
                return Extracted(_clean(first) or first.strip(), True)
            return Extracted(_clean(tail) if not tail.startswith("```") else tail, True)
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
_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}


def number_key(token: str) -> str | None:
    """A number's value as a key: integers plain, everything else a reduced fraction.

    >>> [number_key(t) for t in ["1,000", "$5.50", "0.5", "2/4", "-3.0", "7%", "1/0"]]
    ['1000', '11/2', '1/2', '1/2', '-3', '7', None]
    """
    token = token.replace("$", "").replace(",", "").replace(" ", "").rstrip("%")
    try:
        value = Fraction(token)
    except (ValueError, ZeroDivisionError):
        return None
    if value.denominator == 1:
        return str(value.numerator)
    return f"{value.numerator}/{value.denominator}"


def _number_in(text: str) -> str | None:
    """The number an answer gives: the result after the last '=', else a leading number,
    else the last one ("Tom has 7 + 5 = 12 apples" is 12; "12, since 7 + 5" is 12)."""
    if "=" in text:
        after = _NUMBER.findall(text.rsplit("=", 1)[1])
        if after:
            return after[0]
    numbers = _NUMBER.findall(text)
    if not numbers:
        return None
    lead = re.match(r"\s*[(\[]?\s*(-?\$?\d)", text)
    return numbers[0] if lead else numbers[-1]


def _strip_python_comments(code: str) -> str | None:
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type != tokenize.COMMENT]
        return tokenize.untokenize(tokens)
    except (tokenize.TokenError, IndentationError, SyntaxError, ValueError):
        return None


_C_LIKE = {"c", "cpp", "c++", "java", "javascript", "js", "typescript", "ts", "go", "rust", "rs", "swift",
           "kotlin", "csharp", "cs", "php", "scala"}


def code_key(answer: str) -> str | None:
    """The code of an answer's first fenced block with comments, blank lines and
    spacing normalised; None when there is no block.

    >>> code_key("```python\\nx = a // b  # floor\\n\\n```") == code_key("```py\\nx  =  a // b\\n```")
    True
    >>> code_key("```js\\nlet x = 1; // one\\n```") == code_key("```js\\nlet x = 1;\\n```")
    True
    >>> code_key("no code") is None
    True
    """
    m = re.search(r"```([^\n]*)\n(.*?)```", answer, re.DOTALL)
    if not m:
        return None
    lang, code = m.group(1).strip().lower(), m.group(2)
    if lang in _C_LIKE:
        code = re.sub(r"/\*.*?\*/", "", code, flags=re.DOTALL)
        code = re.sub(r"(?m)(^|\s)//.*$", "", code)
    elif lang in ("sh", "bash", "shell", "zsh"):
        code = re.sub(r"(?m)(^|\s)#(?!!).*$", "", code)
    else:  # python, or unlabelled (usually python): tokenize knows '#' inside strings
        stripped = _strip_python_comments(code)
        code = stripped if stripped is not None else re.sub(r"(?m)(^|\s)#.*$", "", code)
    lines = [re.sub(r"\s+", " ", line).strip() for line in code.splitlines()]
    return "code:" + "\n".join(line for line in lines if line)


def vote_key(answer: str | None, question: str | None = None) -> str | None:
    """A key under which equal answers collide.

    >>> vote_key("391") == vote_key("The result is 391.") == vote_key("391.0") == vote_key("391 apples")
    True
    >>> vote_key("1/2") == vote_key("0.5") == vote_key("2/4")
    True
    >>> vote_key("12, since 7 + 5 = 12") == vote_key("7 + 5 = 12") == vote_key("twelve")
    True
    >>> vote_key("(B) because...") == vote_key("b") == vote_key("B.")
    True
    >>> vote_key("Yes.") == vote_key("yes") == vote_key("Yes, 12 is even.")
    True
    >>> vote_key("No, 27 is odd") == vote_key("False. 4 x 6 makes 24, not 25") == "no"
    True
    >>> vote_key("  Paris!! ") == vote_key("paris")
    True
    >>> vote_key("") is None
    True

    With the ``question`` (see ``question_key``) a sentence that restates it keys as
    what it answers: "27 is not an even number" answers "Is 27 even?" with no.
    """
    if answer is None:
        return None
    code = code_key(answer)
    if code is not None:
        return code
    text = _clean(answer) if answer.strip() else ""
    if not text:
        return None
    choice = _CHOICE.match(text)
    if choice and (len(text) <= 3 or text[1:3] in (") ", ". ", ": ", ")") or text[0] == "("):
        return "choice:" + choice.group(1).upper()
    words = re.sub(r"[^\w\s]", "", text.lower()).split()
    if words and words[0] in _YES | _NO and (len(words) <= 3 or re.match(r"(?i)(yes|no|true|false)\b[,.;:!]", text)):
        return "yes" if words[0] in _YES else "no"
    if question is not None:
        key = question_key(text, words, question)
        return option_letter(key, question) if key is not None else None
    return _plain_key(text, words)


def _plain_key(text: str, words: list[str]) -> str | None:
    number = _number_in(text)
    if number is not None:
        key = number_key(number)
        if key is not None:
            return key
    if len(words) == 1 and words[0] in _WORDS:
        return str(_WORDS[words[0]])
    return " ".join(words) or None


_OPTION_MARK = re.compile(r"(?:^|(?<=\s))\(?([A-Da-d])\)\s+")


def options(question: str) -> dict[str, str]:
    """The lettered options a question lists, as vote key -> ``choice:LETTER`` (an option
    whose text keys like another's is left out: its text cannot say which letter it means).

    >>> options("What is 3 * 6? A) 28 B) 21 C) 18 D) 12. Answer with the letter.")
    {'28': 'choice:A', '21': 'choice:B', '18': 'choice:C', '12': 'choice:D'}
    >>> options("Which city is the capital of Peru?\\n(a) Lima\\n(b) Quito\\nReply with (a) or (b).")
    {'lima': 'choice:A', 'quito': 'choice:B'}
    >>> options("Is 7 odd?")
    {}
    """
    out: dict[str, str] = {}
    seen: set[str] = set()
    for line in question.splitlines():
        marks = list(_OPTION_MARK.finditer(line))
        if len(marks) < 2 and not (marks and marks[0].start() == len(line) - len(line.lstrip())):
            continue  # one option a line starts its line; "Reply with (a) or (b)." lists none
        for i, m in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(line)
            body = re.split(r"\.\s", line[m.end():end] + " ", maxsplit=1)[0]  # "12. Answer with..." -> "12"
            body = _clean(body) if body.strip() else ""
            key = _plain_key(body, re.sub(r"[^\w\s]", "", body.lower()).split()) if body else None
            if key is None:
                continue
            if key in seen:
                out.pop(key, None)
            else:
                out[key] = "choice:" + m.group(1).upper()
            seen.add(key)
    return out


def option_letter(key: str, question: str) -> str:
    """An answer that gives an option's text votes for that option's letter, so "18" and
    "C" count as one answer to "... C) 18 ...".

    >>> q = "What is 3 * 6? A) 28 B) 21 C) 18 D) 12. Answer with the letter."
    >>> vote_key("18", q) == vote_key("C", q) == vote_key("The answer is 18.", q) == "choice:C"
    True
    >>> vote_key("19", q), vote_key("18", "What is 3 * 6?")
    ('19', '18')
    """
    if key.startswith("choice:") or not _OPTION_MARK.search(question):
        return key
    return options(question).get(key, key)


YES_NO_QUESTION = re.compile(r"\b(?:yes or no|true or false)\b|^\s*(?:is|are|was|were|do|does|did|can|could|will|"
                              r"would|should|has|have)\b", re.IGNORECASE)
_OPTIONS = re.compile(r"(?:^|\s)\(?[A-Da-d]\)\s")
_NEGATION = {"not", "no", "never", "isnt", "arent", "doesnt", "dont", "cannot", "cant", "wasnt", "neither", "nor"}
_STOP = {"a", "an", "the", "is", "are", "was", "of", "to", "in", "it", "its", "and", "so", "answer", "final", "that",
         "this", "be", "as", "for"}


def question_key(text: str, words: list[str], question: str) -> str | None:
    """The vote key of an answer read against its question (``vote_key`` has done letters and yes/no words).

    - A yes/no question ("Is ...?", "... Answer yes or no.", "True or false: ...") answered
      by a statement that restates it: no when the statement is negated, else yes.
    - A number the question itself gave, inside a sentence, is a restatement, not an
      answer: the sentence's last new number counts, and with none the sample abstains.
    - Free text loses the words the question already said ("The capital of Greece is
      Athens" -> "athens").

    >>> q = "Is 27 an even number? Answer yes or no."
    >>> vote_key("27 is not an even number.", q), vote_key("27 is indeed an even number", q)
    ('no', 'yes')
    >>> w = "Ines has 12 marbles. Grace gives Ines 13 more. How many marbles does Ines have now?"
    >>> vote_key("Ines has 12 + 13 = 25 marbles.", w), vote_key("Ines has 12 marbles and gets 13.", w), vote_key("12", w)
    ('25', None, '12')
    >>> vote_key("The capital of Greece is Athens.", "What is the capital of Greece?")
    'athens'
    >>> c = "What is 3 * 6? A) 28 B) 21 C) 18 D) 12."
    >>> vote_key("3 * 6 = 18", c), vote_key("It is 18.", c), vote_key("3 * 6 is 3 times 6", c)
    ('choice:C', 'choice:C', None)
    """
    qwords = set(re.sub(r"[^\w\s]", " ", question.lower()).split())
    if YES_NO_QUESTION.search(question):
        content = [w for w in words if w not in _STOP and w not in _NEGATION]
        if content and sum(w in qwords for w in content) * 2 >= len(content):
            return "no" if _NEGATION & set(words) else "yes"
    number = _number_in(text)
    key = number_key(number) if number is not None else None
    if key is not None:
        stem = _OPTIONS.split(question, 1)[0]  # options are candidate answers, not restatements
        given = {number_key(n) for n in _NUMBER.findall(stem)}
        computed = "=" in text and number in _NUMBER.findall(text.rsplit("=", 1)[1])
        if key in given and not computed and not _NUMBER.fullmatch(text.strip()):
            fresh = [k for k in (number_key(n) for n in _NUMBER.findall(text)) if k is not None and k not in given]
            return fresh[-1] if fresh else None
        return key
    return _plain_key(text, [w for w in words if w not in qwords and w not in _STOP] or words)


class EarlyAnswer:
    """Spots a streaming sample's answer as soon as a complete ``Final answer: ...`` line has arrived.

    ``feed`` takes each new piece of text and returns the answer when it is newly found
    or changed, else None. Only complete lines count: a line is done at its newline.

    >>> spot = EarlyAnswer()
    >>> [spot.feed(p) for p in ["7 + 5 is 12.", "\\nFinal answer:", " 12", "\\n"]]
    [None, None, None, '12']
    >>> spot.feed("That is all.\\n") is None
    True
    """

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.scanned = 0  # pieces already searched
        self.answer: str | None = None

    def feed(self, text: str) -> str | None:
        self.pieces.append(text)
        new = "".join(self.pieces[self.scanned:])
        self.scanned = len(self.pieces)
        if "\n" not in new:
            return None
        head, _, _ = "".join(self.pieces).rpartition("\n")
        if "answer" not in head.lower():
            return None
        found = extract(head)
        if not found.marked or found.answer == self.answer:
            return None
        self.answer = found.answer
        return found.answer
