"""Scoring helpers shared by the verifier-driven strategies (best-of-n, refine, beam, mcts).

Owns: turning a candidate into a verifier's Verdict with VerifyStarted/VerifyDone
events, ranking verdicts, the default scorer when the user gave no verifier, and
the anytime guard that hands the best answer so far to the engine when a budget
(or Ctrl-C) stops a search.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from thinkcli.events import SampleDone, VerifyDone, VerifyStarted
from thinkcli.meter import BudgetExhausted
from thinkcli.strategies.base import Candidate, Outcome, to_candidate
from thinkcli.verify import base as vbase


def score(verifier, question: str, cand: Candidate, sink) -> vbase.Verdict:
    """Score one candidate with ``verifier``, announce it, and record the verdict on it."""
    sink.emit(VerifyStarted(cand.sample))
    cand.question = question
    verdict = verifier.score(cand)
    cand.verdict = verdict
    cand.score = verdict.score
    sink.emit(VerifyDone(cand.sample, verdict))
    return verdict


def scored_candidate(verifier, question: str, gen, sink, style: str = "direct") -> Candidate:
    """A generation (asked in prompt ``style``) as a candidate with its verdict, announced with
    its score: SampleDone carries the score, so it comes after the verdict."""
    cand = to_candidate(gen, question=question, style=style)
    score(verifier, question, cand, sink)
    sink.emit(SampleDone(gen.sample, cand.answer, gen.usage, cand.score, gen.text, mean_logprob=cand.mean_logprob))
    return cand


def rank(cand: Candidate) -> tuple[int, float]:
    """Sort key: a pass beats an ungraded verdict beats a failure; then the higher score.

    A pass/fail verdict dominates the graded score, so a candidate that passes the
    user's tests always beats one that fails them, whatever their scores.

    >>> from thinkcli.verify.base import Verdict
    >>> a = Candidate(0, "", "1", 1, 0.2, Verdict(True, 0.2))
    >>> b = Candidate(1, "", "2", 1, 0.9, Verdict(False, 0.9))
    >>> c = Candidate(2, "", "3", 1, 0.5, Verdict(None, 0.5))
    >>> [x.sample for x in sorted([b, c, a], key=rank, reverse=True)]
    [0, 2, 1]
    """
    passed = cand.verdict.passed if cand.verdict is not None else None
    level = {True: 2, None: 1, False: 0}[passed]
    return (level, cand.score if cand.score is not None else 0.0)


def best(cands: list[Candidate], prefer_later: bool = False) -> Candidate | None:
    """The best-ranked candidate; ties go to the earliest (or the latest).

    >>> from thinkcli.verify.base import Verdict
    >>> xs = [Candidate(i, "", str(i), 1, s, Verdict(None, s)) for i, s in enumerate([0.5, 0.7, 0.7])]
    >>> best(xs).sample, best(xs, prefer_later=True).sample
    (1, 2)
    >>> best([]) is None
    True
    """
    if not cands:
        return None
    order = list(reversed(cands)) if prefer_later else cands
    return max(order, key=rank)


def default_verifier(verifier):
    """The user's verifier, or inverse perplexity when there is none (no extra calls)."""
    if verifier is not None:
        return verifier
    from thinkcli.verify.certainty import InversePerplexity

    return InversePerplexity()


def value_verifier(verifier, meter):
    """What values a finished rollout: the user's verifier; else inverse perplexity when the
    backend gives log-probs; else self-evaluation, the answering model as judge (RAP)."""
    if verifier is not None:
        return verifier
    if meter.capabilities.logprobs:
        from thinkcli.verify.certainty import InversePerplexity

        return InversePerplexity()
    from thinkcli.verify.judge import JudgeVerifier

    return JudgeVerifier(meter, name="self-evaluation")


def blind_note(cands: list[Candidate]) -> list[str]:
    """A note when inverse perplexity had no log-probs to go on, so the ranking is uninformed.

    >>> from thinkcli.verify.base import Verdict
    >>> blind_note([Candidate(0, "", "1", 1, 0.5, Verdict(None, 0.5, extra={"logprobs": False}))])
    ['inverse perplexity: no log-probs from this backend, so candidates were not ranked by it']
    >>> blind_note([])
    []
    """
    if any(c.verdict is not None and c.verdict.extra.get("logprobs") is False for c in cands):
        return ["inverse perplexity: no log-probs from this backend, so candidates were not ranked by it"]
    return []


def outcome_of(cands: list[Candidate], notes: list[str] | None = None, prefer_later: bool = False) -> Outcome:
    """An Outcome choosing the best-ranked candidate."""
    top = best(cands, prefer_later)
    if top is None:
        return Outcome(None, cands, notes=list(notes or []))
    return Outcome(top.answer, cands, chosen=top.sample, notes=list(notes or []))


@contextmanager
def anytime(build: Callable[[], Outcome]) -> Iterator[None]:
    """When a budget or Ctrl-C stops the search, attach the best outcome so far to the
    exception so the engine answers with it instead of guessing from raw samples."""
    try:
        yield
    except (BudgetExhausted, KeyboardInterrupt) as stop:
        if getattr(stop, "outcome", None) is None:
            outcome = build()
            # Nothing finished yet: the engine's fallback (the longest partial text) knows more.
            stop.outcome = outcome if outcome.answer is not None else None
        raise
