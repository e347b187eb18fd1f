"""What every strategy takes and returns: the problem, the plan, the outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from thinkcli import prompts
from thinkcli.answers import vote_key
from thinkcli.calc import answer_in
from thinkcli.candidate import Candidate
from thinkcli.events import Generation, Notice, SampleDone
from thinkcli.meter import GenParams, Message
from thinkcli.signals import of_generation

__all__ = ["Candidate", "Outcome", "Plan", "Problem", "apply_select", "to_candidate"]


@dataclass
class Problem:
    question: str
    system: str | None = None
    conversation: list[Message] | None = None  # a whole chat (think serve); its last user turn is the question

    def messages(self, style: str) -> list[Message]:
        """The conversation for one fresh sample in the given prompt style."""
        return prompts.messages(self.question, style, self.system, self.conversation)

    def key(self, answer: str | None) -> str | None:
        """An answer's vote key read against this question (``answers.vote_key``); a chat's
        question is its last user turn, which ``request.build_request`` puts in ``question``.

        >>> Problem("Is 27 an even number? Answer yes or no.").key("27 is not an even number.")
        'no'
        """
        return vote_key(answer, self.question or None)


@dataclass
class Plan:
    """The resolved knobs of one run: an effort preset with the user's overrides applied."""

    strategy: str = "cot"
    samples: int = 1
    prompt_style: str = "steps"  # 'direct' | 'steps' | 'program' | 'plain'
    max_tokens: int = 512
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int | None = None
    confidence: float = 0.95  # adaptive vote stops when the leader's posterior passes this
    round_size: int = 2  # samples drawn per adaptive round
    rounds: int = 2  # refine rounds
    beam_width: int = 2
    expansions: int = 2
    think_min: int = 0
    think_max: int = 512
    then: str | None = None  # strategy to escalate to when a verifier is given (effort high)
    select: str | None = None  # --select rule for the final choice (thinkcli/select.py); None = the strategy's own
    # Stops that spend less (README "Signals and --select"); a profile turns them on where they pay.
    futility: bool = False  # vote: stop once a few samples answered and no two agree (voting.futile)
    esc_window: int = 0  # vote: stop when the last this-many samples all agree (ESC, Li et al. 2024); 0 = off
    online_warmup: int = 0  # DeepConf online: warm-up samples that set the stop threshold; 0 = off
    online_keep: float = 0.9  # DeepConf online: fraction of warm-up traces the threshold would keep
    tools: tuple[dict, ...] = ()  # OpenAI tool definitions, passed through (effort low, remote models)
    tool_choice: str | dict | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # knob -> 'default' | 'profile' | 'flag'

    def params(self, **changes) -> GenParams:
        base = GenParams(
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=self.seed,
            group_window=int(self.extra.get("group_window", 0)),
            tools=self.tools,
            tool_choice=self.tool_choice,
        )
        return base.with_(**changes) if changes else base


@dataclass
class Outcome:
    answer: str | None
    candidates: list[Candidate]
    chosen: int | None = None  # sample index of the selected candidate
    votes: dict[str, int] | None = None
    confidence: float | None = None
    notes: list[str] = field(default_factory=list)  # escalation path, stop reasons
    selection: dict[str, Any] | None = None  # the rule of the final choice and each answer's weight


def to_candidate(gen: Generation, sink=None, score: float | None = None, question: str = "",
                 style: str = "direct") -> Candidate:
    """Read a generation's answer (as ``style`` asked ``question``: calc.answer_in) and announce it
    with SampleDone. A sample DeepConf online stopped has no answer: it was cut off because it
    was unsure, and does not vote."""
    answer = (answer_in(gen.text, style, question)
              if gen.finish_reason != "low-confidence" else None)
    cand = Candidate(
        gen.sample,
        gen.text,
        answer,
        gen.usage.completion_tokens,
        score=score,
        mean_logprob=gen.mean_logprob,
        finish_reason=gen.finish_reason,
        signals=of_generation(gen),
        approximate=gen.approximate,
    )
    if sink is not None:
        sink.emit(SampleDone(gen.sample, answer, gen.usage, score, gen.text, mean_logprob=gen.mean_logprob))
    return cand


def apply_select(rule: str, cands: list[Candidate], sink, notes: list[str],
                 key=vote_key) -> tuple[Candidate | None, dict[str, Any]]:
    """The candidate a ``--select`` rule picks, and what ``--json`` reports of it (the rule and
    each answer's weight). A rule whose signal is missing (no log-probs) falls back to
    majority: one Notice line and a note say so."""
    from thinkcli.select import select
    from thinkcli.strategies.voting import display

    chosen = select(rule, cands, key=key)
    shown = {}
    for c in cands:
        k = key(c.answer)
        if k is not None and k not in shown:
            shown[k] = display(k, c.answer)
    report: dict[str, Any] = {"rule": chosen.rule, "weights": {shown[k]: round(w, 6) for k, w in chosen.weights.items()}}
    if chosen.fallback:
        report["fallback"] = chosen.fallback
        notes.append(f"--select {rule}: {chosen.fallback}")
        if sink is not None:
            sink.emit(Notice(f"--select {rule}: {chosen.fallback}"))
    return (cands[chosen.index] if chosen.index is not None else None), report
