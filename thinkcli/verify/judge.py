"""The judge verifier: a model rates each candidate against the question with a rubric.

Owns the judge prompt, the robust parsing of the score a judge writes ("8/10",
"Score: 7", "rating 0.8", "80%"), and loading a second model for ``--judge-model``.
With ``--judge`` the answering model judges itself. Every judge call is drawn
through the run's Meter, so its tokens count and the run's budgets apply.
"""

from __future__ import annotations

import re
import weakref

from thinkcli import prompts
from thinkcli.backends.base import GenParams
from thinkcli.verify.base import Candidate, Verdict

DEFAULT_SCORE = 0.0  # a judge that gave no readable score vouches for nothing
JUDGE_TOKENS = 64  # a free-form reply: a reason, then the score
PRIMED_TOKENS = 8  # after "Score:" only the number is left to write
PRIME = "Score:"

_NUM = r"(\d+(?:\.\d+)?|\.\d+)"
_KEYWORD = re.compile(
    r"\b(?:score|rating|rated|grade|mark)\b[^\d\n]{0,12}?" + _NUM
    + r"(?:\s*(?:/|out\s+of)\s*" + _NUM + r")?",
    re.IGNORECASE,
)
_FRACTION = re.compile(_NUM + r"\s*(?:/|out\s+of)\s*" + _NUM, re.IGNORECASE)
_PERCENT = re.compile(_NUM + r"\s*%")
_BARE = re.compile(r"^\W*" + _NUM + r"\W*$")


def _scaled(value: float, scale: float | None, raw: str) -> float | None:
    """A number on an explicit or guessed scale, as a fraction in [0, 1]; None if impossible."""
    if scale is not None:
        return value / scale if scale > 0 and 0 <= value <= scale else None
    if "." in raw and value <= 1:  # "0.8" is already a fraction
        return value
    if value <= 10:  # the rubric asks for N/10
        return value / 10
    if value <= 100:
        return value / 100
    return None


def parse_score(text: str) -> tuple[float | None, str]:
    """The score a judge wrote, as a fraction in [0, 1], and how it was read.

    The last "Score: N" wins (judges restate numbers from the question first);
    then the last "a/b" fraction; then a percentage; then a reply that is only a
    number. Anything else is None.

    >>> parse_score("Looks right. Score: 8/10")
    (0.8, 'Score: 8/10')
    >>> parse_score("Score: 7")[0]
    0.7
    >>> parse_score("rating 0.8")[0]
    0.8
    >>> parse_score("I'd give it 9 out of 10.")[0]
    0.9
    >>> parse_score("2/3 of the apples are red, so... Score: 5/10")[0]
    0.5
    >>> parse_score("85%")[0]
    0.85
    >>> parse_score("6")[0]
    0.6
    >>> parse_score("The answer is good.")
    (None, 'no score in the reply')
    >>> parse_score("Score: 14/10")
    (None, 'score out of range: Score: 14/10')
    """
    for pattern in (_KEYWORD, _FRACTION, _PERCENT, _BARE):
        matches = list(pattern.finditer(text))
        if not matches:
            continue
        m = matches[-1]
        groups = m.groups()
        raw = groups[0]
        scale = "100" if pattern is _PERCENT else (groups[1] if len(groups) > 1 else None)
        try:
            value = _scaled(float(raw), float(scale) if scale else None, raw)
        except ValueError:
            value = None
        shown = m.group(0).strip()
        if value is None:
            return None, f"score out of range: {shown}"
        return round(value, 4), shown
    return None, "no score in the reply"


class JudgeVerifier:
    """Rates a candidate 1-10 with a rubric prompt; a graded verifier (no pass/fail)."""

    pass_fail = False

    def __init__(self, meter, backend=None, name: str = "judge", max_tokens: int = JUDGE_TOKENS) -> None:
        self.meter = meter
        self.backend = backend  # None: the answering model judges
        self.name = name
        self.max_tokens = max_tokens

    @classmethod
    def for_model(cls, judge_model: str | None, settings, meter) -> JudgeVerifier:
        """--judge-model REF loads a second model; --judge alone uses the answering model."""
        if judge_model:
            from thinkcli.backends import load

            backend = load(judge_model, dict(settings))
            judge = cls(meter, backend, name=f"judge {backend.model}")
            weakref.finalize(judge, backend.close)  # the engine closes only the answering model
            meter.price_of(backend)  # its own price, resolved now: --max-cost with no known price fails up front
            return judge
        return cls(meter, name="judge")

    def messages(self, candidate: Candidate) -> list[dict[str, str]]:
        finished = candidate.answer is not None
        return [{
            "role": "user",
            "content": prompts.render(
                "judge" if finished else "judge_step",
                question=candidate.question.strip(),
                answer=candidate.text.strip() or "(empty)",
            ),
        }]

    def score(self, candidate: Candidate) -> Verdict:
        messages = self.messages(candidate)
        caps = (self.backend or self.meter).capabilities
        if caps.raw_completion:
            # The judge's turn opens with "Score:", so even a small model writes a number next.
            params = GenParams(max_tokens=PRIMED_TOKENS, temperature=0.0, stop=("\n",), logprobs=False)
            prompt = (self.backend or self.meter).chat_prompt(messages) + PRIME
            text = PRIME + self._draw(prompt, params)
        else:
            params = GenParams(max_tokens=self.max_tokens, temperature=0.0, logprobs=False)
            text = self._draw(messages, params)
        value, how = parse_score(text)
        if value is None:
            return Verdict(None, DEFAULT_SCORE, detail=f"{self.name}: {how}; scored {DEFAULT_SCORE:g}",
                           output=text[-2000:], extra={"parsed": False})
        return Verdict(None, value, detail=f"{self.name}: {how}", output=text[-2000:],
                       extra={"parsed": True})

    def _draw(self, prompt, params) -> str:
        raw = isinstance(prompt, str)
        if self.backend is not None:
            gens = self.meter.draw_on(self.backend, prompt, params, 1, label="judge")
        elif raw:
            gens = self.meter.draw_raw(prompt, params, 1, label="judge")
        else:
            gens = self.meter.draw(prompt, params, 1, label="judge")
        return gens[0].text if gens else ""
