"""The `program` prompt style's calculator: the value of the arithmetic a reply wrote.

Program-aided answering (Gao et al. 2022, "PAL: Program-aided Language Models";
Chen et al. 2022, "Program of Thoughts"): the model writes the expression that
computes the answer and the computer does the arithmetic, which small models get
wrong far more often than they get the expression wrong. List markers and the units a
model writes between a number and an operator ("8 bags * 6 books") are dropped. Only
numbers, + - * /, powers (``^`` or ``**``, to a whole exponent, within MAX_POWER_DIGITS)
and parentheses are understood, read into exact fractions by a parser of our own:
nothing in a reply is ever executed. A question with nothing to compute (no
number in it, or asking yes or no) is asked and read as the `direct` style does.
Pure functions; imports only ``answers``.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from thinkcli.answers import YES_NO_QUESTION, extract

MAX_CHARS = 200  # a longer run of arithmetic is not an answer's expression
MAX_DIGITS = 15  # per number, so that no reply can make the calculator work hard
MAX_POWER_DIGITS = 40  # nor can a power: 2^10 is read, 999^999 is not an answer
_TIMES = re.compile(r"(?<=[\d)])\s*[x×·]\s*(?=[\d(])")  # 3 x 4, 3×4, 3·4
_RUN = re.compile(r"[\d.,\s+\-*/^()]+")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
# What small models write around an expression: list markers ("1. 6 + 5 = 11") and units
# between a number and the next operator ("8 bags * 6 books", "13 (apples) + 8 (apples)").
_LIST_MARK = re.compile(r"^[ \t]*(?:\d{1,2}[.)]|[*•-])[ \t]+", re.MULTILINE)
_UNITS = re.compile(r"(?<=\d)[ \t]+(?:\(?[A-Za-z][A-Za-z']*\)?[ \t]+){1,3}(?=[-+*/×x÷^][ \t]*[\d(])")
_TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?|\.\d+)|(.))")


class _Syntax(Exception):
    pass


def _tokens(text: str) -> list[str]:
    out = []
    for number, other in _TOKEN.findall(text):
        if number:
            if len(number.replace(".", "")) > MAX_DIGITS:
                raise _Syntax
            out.append(number)
        elif other.strip():
            out.append(other)
    return out


class _Parser:
    """expr := term (('+'|'-') term)* ; term := unary (('*'|'/') unary)* ; unary := '-' unary | power ;
    power := atom ('^' unary)? (so -2^2 is -4 and 2^3^2 is 2^9, as in mathematics)."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens, self.i = tokens, 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise _Syntax
        self.i += 1
        return token

    def expr(self) -> Fraction:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> Fraction:
        value = self.unary()
        while self.peek() in ("*", "/"):
            op, right = self.take(), self.unary()
            if op == "/" and right == 0:
                raise _Syntax
            value = value * right if op == "*" else value / right
        return value

    def unary(self) -> Fraction:
        if self.peek() == "-":
            self.take()
            return -self.unary()
        return self.power()

    def power(self) -> Fraction:
        base = self.atom()
        if self.peek() != "^":
            return base
        self.take()
        exponent = self.unary()
        if exponent.denominator != 1 or (base == 0 and exponent < 0):
            raise _Syntax
        if base not in (0, 1, -1):  # the result's digits, before computing it
            size = max(abs(base.numerator), base.denominator)
            if abs(exponent.numerator) * math.log10(size) >= MAX_POWER_DIGITS:
                raise _Syntax
        return base ** exponent.numerator

    def atom(self) -> Fraction:
        token = self.take()
        if token == "(":
            value = self.expr()
            if self.take() != ")":
                raise _Syntax
            return value
        if token[0].isdigit() or token[0] == ".":
            return Fraction(token)
        raise _Syntax


def value_of(expression: str) -> Fraction | None:
    """The exact value of an arithmetic expression, or None when it is not one.

    >>> value_of("3 * 6 - 2"), value_of("(18 + 9) - 4"), value_of("7 / 2"), value_of("-3 * -2")
    (Fraction(16, 1), Fraction(23, 1), Fraction(7, 2), Fraction(6, 1))
    >>> value_of("1 / 0"), value_of("2 +"), value_of("__import__('os')"), value_of("9" * 40 + " * 2")
    (None, None, None, None)
    >>> value_of("2^10"), value_of("-2^2"), value_of("2^3^2"), value_of("2^-1"), value_of("(1/2)^2")
    (Fraction(1024, 1), Fraction(-4, 1), Fraction(512, 1), Fraction(1, 2), Fraction(1, 4))
    >>> value_of("999^999"), value_of("2^0.5"), value_of("0^-1"), value_of("2^1000000000000")
    (None, None, None, None)
    >>> len(str(value_of("10^39"))), value_of("10^40"), len(str(value_of("2^132")))  # at most 40 digits
    (40, None, 40)
    """
    if len(expression) > MAX_CHARS:
        return None
    try:
        parser = _Parser(_tokens(expression))
        value = parser.expr()
    except (_Syntax, ValueError, ZeroDivisionError):
        return None
    return value if parser.peek() is None else None


def show(value: Fraction) -> str:
    """A value as an answer: an integer, else a decimal of at most 6 places.

    >>> show(Fraction(16)), show(Fraction(7, 2)), show(Fraction(1, 3)), show(Fraction(-5, 4))
    ('16', '3.5', '0.333333', '-1.25')
    """
    if value.denominator == 1:
        return str(value.numerator)
    text = f"{float(value):.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _candidates(run: str):
    """The expressions a run of arithmetic characters may hold, longest first."""
    for piece in _THOUSANDS.sub("", run).split(","):
        piece = piece.strip().rstrip("=").strip()
        while piece:
            yield piece
            if piece.count("(") > piece.count(")") and piece.startswith("("):
                piece = piece[1:].strip()  # "(3 + 4" -> "3 + 4"
            elif piece[-1] in "+-*/^(.":
                piece = piece[:-1].strip()  # "3 * 6 -" -> "3 * 6"
            else:
                break


def evaluate(text: str) -> str | None:
    """The value of the first expression with an operator that a reply wrote, or None.

    A reply that goes on after its expression (``18 + 9 = 27. Ines has 27 coins``)
    is read by its expression; a reply with no arithmetic gives None.

    >>> evaluate(" 3 * 6 - 2"), evaluate("18 + 9 = 27\\nInes has 27 coins."), evaluate("4 x 9")
    ('16', '27', '36')
    >>> evaluate("The answer is 12."), evaluate("1,200 + 50"), evaluate("(36 / 4")
    (None, '1250', '9')
    >>> evaluate("2^10 = 1001 in base 10."), evaluate("3 ** 4 = 64")
    ('1024', '81')

    List markers and the units of a number (up to three words) before an operator are not
    part of the arithmetic:

    >>> evaluate("1. 8 bags * 6 books = 60 books"), evaluate("13 (apples) + 8 (apples) - 2 (apples) = 22")
    ('48', '19')
    >>> evaluate("7 bags x 4 apples / bag = 24 apples"), evaluate("Sam has 3 apples - he eats one")
    ('28', None)
    """
    text = text.replace("÷", "/").replace("−", "-").replace("**", "^")
    text = _TIMES.sub(" * ", _UNITS.sub(" ", _LIST_MARK.sub("", text)))
    for run in _RUN.findall(text):
        if not re.search(r"\d\s*[-+*/^]\s*[-(.\d]", run):
            continue
        for expression in _candidates(run):
            value = value_of(expression)
            if value is not None:
                return show(value)
    return None


MAX_QUESTION = 600  # longer is a document to read (a diff, a file), not a sum to set up
_CODE = re.compile(r"```|\"\"\"|[{}]|^\s*(?:def|class|import|from|return|diff|@@|[-+]{3})\b", re.MULTILINE)


def computable(question: str) -> bool:
    """Whether the `program` style asks this question for an expression: a short question
    with a number in it that does not ask yes or no and carries no code (a diff piped in,
    a function to write).

    >>> computable("Sam has 3 bags of 4 apples. How many apples?"), computable("What is 10 * 12? A) 120 B) 108")
    (True, True)
    >>> computable("Is 46 an even number? Answer yes or no."), computable("What is the capital of Greece?")
    (False, False)
    >>> computable("Review this:\\ndiff --git a/x.py b/x.py\\n@@ -1,2 +1,2 @@"), computable("def f(x):\\n    return x + 1")
    (False, False)
    """
    return (len(question) <= MAX_QUESTION and bool(re.search(r"\d", question))
            and not YES_NO_QUESTION.search(question) and not _CODE.search(question))


def answer_in(text: str, style: str, question: str) -> str | None:
    """What a reply answered: in the `program` style the value of its expression (else what
    it said, as ``answers.extract`` reads it); in every other style ``extract``'s answer.

    >>> answer_in("3 * 6 - 2", "program", "A box holds 6 eggs; 3 boxes, 2 break. How many?")
    '16'
    >>> answer_in("3 * 6 - 2", "direct", "How many?"), answer_in("Final answer: 12", "program", "3 + 9?")
    ('3 * 6 - 2', '12')
    """
    if not text.strip():
        return None
    if style == "program" and computable(question):
        value = evaluate(text)
        if value is not None:
            return value
    return extract(text).answer or None
