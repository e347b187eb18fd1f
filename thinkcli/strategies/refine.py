"""`refine`: draft, then critique and revise for up to R rounds, keeping the best version.

Madaan et al. 2023, "Self-Refine: Iterative Refinement with Self-Feedback";
Shinn et al. 2023, "Reflexion: Language Agents with Verbal Reinforcement Learning".

The same model writes the draft, the critique and the revision, and each revision
sees the earlier attempts with their reviews (Self-Refine keeps that history).
When a verifier ran, its output goes into the critique prompt (Reflexion's
external feedback). The loop stops when the verifier passes, or when the critique
finds nothing to fix and no verifier says otherwise. Every version is scored and
the best-scored one is the answer, not merely the last.
"""

from __future__ import annotations

import re

from thinkcli import prompts
from thinkcli.events import RoundStarted
from thinkcli.strategies.base import Candidate, Outcome, Plan, Problem
from thinkcli.strategies.scoring import (
    anytime,
    blind_note,
    default_verifier,
    outcome_of,
    scored_candidate,
)

_NOTHING = re.compile(
    r"^\W*(?:no issues?|nothing (?:needs )?(?:to )?fix|no (?:errors?|mistakes?|problems?)(?: found)?"
    r"|(?:the )?(?:proposed )?answer is (?:fully )?correct)\b",
    re.IGNORECASE,
)


def nothing_to_fix(critique: str) -> bool:
    """Whether a critique opens by saying the answer needs no change.

    >>> nothing_to_fix("NO ISSUES")
    True
    >>> nothing_to_fix("No errors found. The sum is right.")
    True
    >>> nothing_to_fix("The answer is correct.")
    True
    >>> nothing_to_fix("Step 2 is wrong: 3*4 is 12, not 7. No issues otherwise.")
    False
    >>> nothing_to_fix("The answer is not correct.")
    False
    """
    return bool(_NOTHING.match(critique.strip()))


def feedback(verdict) -> str:
    """The verifier's report as the critique prompt shows it; empty without a real checker."""
    if verdict is None or verdict.passed is None and not verdict.output:
        return ""  # a graded score alone (inverse perplexity) tells the critic nothing to act on
    return prompts.render("feedback", detail=verdict.detail or "-", output=(verdict.output or "(none)").strip())


def refine(problem: Problem, plan: Plan, meter, verifier, sink) -> Outcome:
    checker = default_verifier(verifier)
    versions: list[Candidate] = []
    notes: list[str] = []
    history: list[str] = []  # earlier (attempt, review) pairs, as Self-Refine keeps them

    def scored(gen, style: str = "direct") -> Candidate:  # revisions answer as the revise prompt asks
        cand = scored_candidate(checker, problem.question, gen, sink, style)
        versions.append(cand)
        return cand

    # Ties go to the latest version: with no signal either way, a revision is the better bet.
    with anytime(lambda: outcome_of(versions, notes, prefer_later=True)):
        sink.emit(RoundStarted("draft"))
        [gen] = meter.draw(problem.messages(plan.prompt_style), plan.params(), 1, label="draft")
        current = scored(gen, plan.prompt_style)
        settled = False  # the critique found nothing to fix
        for r in range(1, plan.rounds + 1):
            if current.verdict.passed:
                break
            sink.emit(RoundStarted(f"critique {r}/{plan.rounds}"))
            ask = prompts.render(
                "critique",
                question=problem.question.strip(),
                answer=current.text.strip(),
                feedback=feedback(current.verdict if verifier is not None else None),
            )
            [crit] = meter.draw(_messages(problem, ask), plan.params(), 1, label=f"critique {r}")
            if nothing_to_fix(crit.text) and current.verdict.passed is not False:
                notes.append(f"critique {r} found nothing to fix")
                settled = True
                break
            sink.emit(RoundStarted(f"revise {r}/{plan.rounds}"))
            ask = prompts.render(
                "revise",
                question=problem.question.strip(),
                answer=current.text.strip(),
                critique=crit.text.strip() or "(the review was empty; check the answer again)",
                history="".join(history),
            )
            history.append(prompts.render("attempt", n=str(len(history) + 1), answer=current.text.strip(),
                                          critique=crit.text.strip() or "(empty)"))
            [gen] = meter.draw(_messages(problem, ask), plan.params(), 1, label=f"revision {r}")
            current = scored(gen)
        if current.verdict.passed:
            notes.append(f"version {len(versions)} passed {checker.name}")
        elif not settled:
            notes.append(f"stopped after {plan.rounds} rounds")
    notes.extend(blind_note(versions))
    out = outcome_of(versions, notes, prefer_later=True)
    chosen = next(i for i, v in enumerate(versions) if v.sample == out.chosen)
    out.notes.append(f"kept version {chosen + 1} of {len(versions)}")
    return out


def _messages(problem: Problem, content: str) -> list[dict[str, str]]:
    out = [{"role": "system", "content": problem.system}] if problem.system else []
    return out + [{"role": "user", "content": content}]
