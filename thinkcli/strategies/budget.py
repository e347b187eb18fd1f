"""`budget`: s1 budget forcing, a minimum and a maximum number of thinking tokens.

Muennighoff et al. 2025, "s1: Simple test-time scaling".

The model thinks by raw continuation of one growing text. Thinking ends where the
model starts its "Final answer:" line (or stops). Below ``--think-min`` tokens that
end is suppressed: "Wait" is appended and the same text is continued. At
``--think-max`` tokens thinking is cut and "Final answer:" is forced, then the
answer is generated. Needs a backend that can continue a raw prompt (its table entry says so;
the engine checks).
"""

from __future__ import annotations

from thinkcli.answers import extract
from thinkcli.errors import UsageError
from thinkcli.events import RoundStarted, SampleDone, Usage
from thinkcli.strategies.base import Candidate, Outcome, Plan, Problem
from thinkcli.strategies.scoring import anytime, score

END_THINKING = ("Final answer:", "Final Answer:", "FINAL ANSWER:")  # stop strings are case-sensitive
WAIT = "\nWait"
FORCE = "\nFinal answer:"


def check_limits(think_min: int, think_max: int) -> None:
    """Reject limits that cannot both hold.

    >>> check_limits(0, 512)
    >>> check_limits(600, 512)
    Traceback (most recent call last):
    ...
    thinkcli.errors.UsageError: --think-min 600 is above --think-max 512; lower --think-min or raise --think-max
    """
    if think_min < 0 or think_max < 1:
        raise UsageError(f"thinking limits must be --think-min >= 0 and --think-max >= 1, not {think_min} and {think_max}")
    if think_min > think_max:
        raise UsageError(
            f"--think-min {think_min} is above --think-max {think_max}; lower --think-min or raise --think-max"
        )


def budget(problem: Problem, plan: Plan, meter, verifier, sink) -> Outcome:
    lo, hi = plan.think_min, plan.think_max
    check_limits(lo, hi)
    base = meter.chat_prompt(problem.messages("steps"))  # budget forcing needs reasoning to force
    thinking, spent, waits, last = "", 0, 0, -1
    notes: list[str] = []

    def so_far() -> Outcome:
        text = thinking.strip()
        cand = Candidate(last, text, extract(text).answer if text else None, spent, finish_reason="cancelled")
        return Outcome(cand.answer, [cand], chosen=last, notes=notes)

    with anytime(so_far):
        forced = False
        while True:
            used = meter.count_tokens(thinking) if thinking else 0
            if used >= hi:
                forced = True
                break
            params = plan.params(max_tokens=hi - used, stop=END_THINKING)
            [gen] = meter.draw_raw(base + thinking, params, 1, label="thinking" if not waits else f"Wait {waits}")
            thinking += gen.text
            spent += gen.usage.completion_tokens
            last = gen.sample
            used = meter.count_tokens(thinking) if thinking else 0
            if gen.finish_reason == "length" or used >= hi:
                forced = True
                break
            if gen.finish_reason in ("context", "error"):
                notes.append(f"thinking ended by {gen.finish_reason}")
                break
            if used < lo:
                if waits and not gen.text.strip():
                    notes.append("the model would not continue after Wait")
                    break
                # The model tried to stop thinking too early: suppress the end, make it go on.
                waits += 1
                sink.emit(RoundStarted(f"Wait {waits}: {used} of at least {lo} thinking tokens"))
                thinking = thinking.rstrip() + WAIT
                continue
            break
        sink.emit(RoundStarted("answer (forced at the maximum)" if forced else "answer"))
        prompt = base + thinking.rstrip() + FORCE
        [ans] = meter.draw_raw(prompt, plan.params(stop=()), 1, label="answer")
    text = thinking.rstrip() + FORCE + ans.text
    spent += ans.usage.completion_tokens
    answer = extract(text).answer
    # Of the completion tokens the meter counted, these were thinking.
    meter.usage = meter.usage + Usage(reasoning_tokens=used)
    cand = Candidate(ans.sample, text, answer, spent, finish_reason=ans.finish_reason)
    if verifier is not None:
        score(verifier, problem.question, cand, sink)
    sink.emit(SampleDone(ans.sample, answer, Usage(completion_tokens=spent, reasoning_tokens=used), cand.score, text))
    notes.append(
        f"thinking {used} tokens (min {lo}, max {hi}); {waits} Wait(s)"
        + ("; cut at the maximum and the answer forced" if forced else "")
    )
    return Outcome(answer, [cand], chosen=ans.sample, notes=notes)
