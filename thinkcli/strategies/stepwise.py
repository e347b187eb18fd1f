"""Reasoning one step at a time, for the tree and beam searches (beam, mcts).

Owns what a "step" is (text up to a blank line or the next ``Step k:`` marker),
splitting a solution into steps, and drawing next steps or whole rollouts from a
partial solution: by raw continuation of the chat prompt plus the partial text
when the backend can, else by a chat turn that shows the partial solution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from thinkcli import prompts
from thinkcli.events import Generation
from thinkcli.meter import Message

STEP_STOPS = ("\n\n", "\nStep ")  # a step ends at a blank line or where the next step starts
STEP_TOKENS = 96  # one step rarely needs more; a longer one is continued, not cut
SEP = "\n\n"

_MARKER = re.compile(r"\n(?=[ \t]*Step\s+\d+\s*[:.])", re.IGNORECASE)
_FINAL = re.compile(r"final\s+answer\s*[:：]", re.IGNORECASE)


def split_steps(text: str) -> list[str]:
    """A solution's steps: split at blank lines and before ``Step k:`` markers.

    >>> split_steps("Step 1: 2+2=4\\nStep 2: 4*3=12\\nFinal answer: 12")
    ['Step 1: 2+2=4', 'Step 2: 4*3=12\\nFinal answer: 12']
    >>> split_steps("First, add.\\n\\n\\nThen multiply.\\n")
    ['First, add.', 'Then multiply.']
    >>> split_steps("  ")
    []
    """
    steps: list[str] = []
    for block in re.split(r"\n[ \t]*\n", text):
        steps.extend(part.strip() for part in _MARKER.split(block))
    return [s for s in steps if s]


def is_final(text: str) -> bool:
    """Whether text has reached the final answer.

    >>> is_final("so 12.\\nFinal answer: 12"), is_final("Step 3: carry the 1")
    (True, False)
    """
    return bool(_FINAL.search(text))


def join(partial: str, step: str, cut: bool = False) -> str:
    """Append a step to a partial solution; a step cut by the token cap runs straight on.

    >>> join("", "Step 1: a")
    'Step 1: a\\n\\n'
    >>> join("Step 1: a\\n\\n", "Step 2: b", cut=True)
    'Step 1: a\\n\\nStep 2: b'
    """
    return partial + (step if cut else step.rstrip() + SEP)


@dataclass
class Stepper:
    """Draws next steps and rollouts for one problem through the run's meter."""

    meter: object
    question: str
    system: str | None = None

    def messages(self) -> list[Message]:
        out: list[Message] = [{"role": "system", "content": self.system}] if self.system else []
        return out + [{"role": "user", "content": prompts.render("stepwise", question=self.question.strip())}]

    @property
    def raw(self) -> bool:
        return bool(self.meter.capabilities.raw_completion)

    def _draw(self, partial: str, params, n: int, label: str, follow_up: str) -> list[Generation]:
        if self.raw:
            prompt = self.meter.chat_prompt(self.messages()) + partial
            return self.meter.draw_raw(prompt, params, n, label)
        messages = self.messages()
        if partial:
            messages += [
                {"role": "assistant", "content": partial.rstrip()},
                {"role": "user", "content": prompts.load(follow_up).strip()},
            ]
        return self.meter.draw(messages, params, n, label)

    def next_steps(self, partial: str, params, n: int, label: str = "step") -> list[Generation]:
        """``n`` candidate next steps after ``partial`` (each stops at the end of its step)."""
        step = params.with_(stop=STEP_STOPS, max_tokens=min(params.max_tokens, STEP_TOKENS))
        return self._draw(partial, step, n, label, "next_step")

    def rollout(self, partial: str, params, label: str = "rollout") -> Generation:
        """The rest of the solution after ``partial``, to the final answer."""
        [gen] = self._draw(partial, params.with_(stop=()), 1, label, "continue")
        return gen
