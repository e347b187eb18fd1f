"""The draw `think calibrate` replays: sampling it, saving it, and resuming an unfinished one.

A draw holds, for every question and prompt style, N seeded samples (one batched call)
and one greedy sample. Question q's samples use seeds SEED + 1000q + i whatever else was
drawn before, so a draw stopped part way (Ctrl-C, a dead server) and resumed from its
saved file draws what is missing with the seeds an unbroken run would have used. Where
the reply depends only on the request (a remote server that honours ``seed``), that is
the same draw sample for sample. So is it on the embedded model: its prompt cache is emptied
before each question (``engine.forget_cache``), since llama.cpp's sums come out a little
differently for a prompt evaluated in other pieces and the samples would otherwise depend on
what the process drew before (the order of the styles, a resume point). A saved
draw names what it was drawn from (model, questions, samples, styles, tokens,
temperature, seed); ``check`` refuses a run that asks for something else on the same
file rather than silently replaying, or extending, the wrong draw.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

from thinkcli.answers import vote_key
from thinkcli.bench import SEED_STRIDE, Item, is_correct
from thinkcli.calc import answer_in
from thinkcli.errors import ThinkError, UsageError
from thinkcli.events import Generation, Usage
from thinkcli.jobs.budget import Ledger, Need
from thinkcli.replay import Question, Sample
from thinkcli.signals import of_generation

DRAW_VERSION = 2
MAX_DRAW = 1 << 30  # bytes: 2,000 questions x 64 samples x 3 styles come to about 150 MB


@dataclass
class Draw:
    """Everything sampled for one calibration: what the replay scores, and how it was drawn."""

    model: str
    model_key: str
    data: str
    samples: int
    styles: list[str]
    temperature: float
    max_tokens: int
    seed: int
    questions: list[Question] = field(default_factory=list)
    wall_s: float = 0.0
    style_wall_s: dict[str, float] = field(default_factory=dict)  # prompt style -> seconds its draw took
    fingerprint: str = ""  # of the questions and gold answers drawn on ("" in draws saved before it existed)

    def signals(self) -> list[str]:
        """Signal names every sample of the draw carries."""
        names: set[str] | None = None
        for q in self.questions:
            for samples in q.samples.values():
                for s in samples:
                    names = set(s.signals) if names is None else names & set(s.signals)
        return sorted(names or ())

    @property
    def pending(self) -> int:
        """(question, style) pairs not drawn yet: 0 once the draw is complete.

        >>> d = Draw("m", "k", "d", 2, ["direct", "program"], 0.4, 8, 0, [Question("1", "a", {})])
        >>> d.pending, d.complete
        (2, False)
        """
        return sum(style not in q.greedy for q in self.questions for style in self.styles)

    @property
    def complete(self) -> bool:
        return self.pending == 0

    def to_json(self) -> str:
        doc = asdict(self)
        doc["version"] = DRAW_VERSION
        return json.dumps(doc)

    @classmethod
    def from_json(cls, text: str) -> Draw:
        doc = json.loads(text)
        if doc.pop("version", None) != DRAW_VERSION:
            raise UsageError("the saved draw is from another version of think calibrate; draw again")
        qs = doc.pop("questions")
        draw_ = cls(**doc)
        for q in qs:
            draw_.questions.append(Question(
                q["id"], q["kind"], {st: [Sample(**s) for s in ss] for st, ss in q["samples"].items()},
                {st: Sample(**s) for st, s in q["greedy"].items()}))
        return draw_


def fingerprint(items: Sequence[Item]) -> str:
    """A hash of the questions and their gold answers, in order: what a saved draw was drawn on.

    >>> a, b = Item("What is 1 + 1?", "2"), Item("What is 1 + 1?", "3")
    >>> fingerprint([a]) == fingerprint([Item("What is 1 + 1?", "2", id="other:7")]), fingerprint([a]) == fingerprint([b])
    (True, False)
    """
    rows = [[i.question, i.answer, i.verify, list(i.accept), i.kind] for i in items]
    return "sha256:" + hashlib.sha256(json.dumps(rows).encode()).hexdigest()


class BudgetReached(ThinkError):
    """--max-cost or --max-total-tokens has no room for the next question's worst case."""


@dataclass
class Budget:
    """A draw's --max-cost / --max-total-tokens: a question starts only when its worst case
    (``need``) fits beside what is spent and reserved, as in ``think batch``; what it really
    spent (``price`` of its usage) is booked when it ends."""

    ledger: Ledger
    need: Callable[[Item], Need]
    price: Callable[[Usage], float | None] | None = None
    held: dict[str, Need] = field(default_factory=dict)

    def reserve(self, item: Item) -> str | None:
        need = self.need(item)
        why = self.ledger.reserve(need)
        if why is None:
            self.held[item.id] = need
        return why

    def settle(self, item: Item, usage: Usage) -> None:
        self.ledger.settle(self.held.pop(item.id), usage.total_tokens, self.price(usage) if self.price else None)

    def refusal(self, why: str) -> BudgetReached:
        book = self.ledger
        if why == "cost":
            return BudgetReached(f"the --max-cost budget (${book.max_cost:g}, ${book.spent_cost:.4f} spent) "
                                 "has no room for the next question's worst case")
        return BudgetReached(f"the --max-total-tokens budget ({book.max_tokens}, {book.spent_tokens} spent) "
                             "has no room for the next question's worst case")


def to_sample(item: Item, gen: Generation, style: str = "direct") -> Sample:
    answer = answer_in(gen.text, style, item.question)
    return Sample(vote_key(answer, item.question), is_correct(item, answer, gen.text), gen.usage.completion_tokens, of_generation(gen),
                  answer)


def start(items: Sequence[Item], *, model: str, data: str, model_key: str, samples: int, styles: Sequence[str],
          temperature: float, max_tokens: int, seed: int) -> Draw:
    """An empty draw of these questions: ``fill`` samples it."""
    return Draw(model, model_key, data, samples, list(styles), temperature, max_tokens, seed,
                [Question(item.id, item.kind, {}) for item in items], fingerprint=fingerprint(items))


def fill(draw_: Draw, items: Sequence[Item], backend, progress: Callable[[int, int], None] | None = None,
         checkpoint: Callable[[Draw], None] | None = None, concurrency: int = 1, budget: Budget | None = None) -> Draw:
    """Draw every (question, style) pair still missing, in place: N samples in one batched call
    (seeds SEED+1000q+i) and one greedy sample; ``checkpoint`` after each pair.

    One style after another; within a style, ``concurrency`` questions at once (a remote
    server answers them side by side; a local model takes 1). The first error stops the
    draw: pairs not started are not started, and what finished is kept. With a ``budget``,
    a pair starts only when its worst case fits; once one does not, none starts, the pairs
    in flight finish, and ``BudgetReached`` is raised.
    """
    if len(items) != len(draw_.questions) or (draw_.fingerprint and fingerprint(items) != draw_.fingerprint):
        raise UsageError("these questions are not the ones the draw was started on")
    total = len(items) * len(draw_.styles)
    lock = threading.Lock()
    state = {"done": total - draw_.pending, "mark": time.monotonic(), "stopped": False, "refused": None}

    def one(style: str, q: int) -> None:
        if budget is not None:
            with lock:
                why = state["refused"] or budget.reserve(items[q])
                if why is not None:
                    state["refused"] = why
                    return
        samples, greedy, usage = _pair(draw_, items[q], q, style, backend)
        with lock:
            if budget is not None:
                budget.settle(items[q], usage)
            if state["stopped"]:  # a question still in flight when the draw stopped: the saved file is final
                return
            question = draw_.questions[q]
            question.samples[style], question.greedy[style] = samples, greedy
            now = time.monotonic()
            draw_.wall_s += now - state["mark"]
            draw_.style_wall_s[style] = round(draw_.style_wall_s.get(style, 0.0) + now - state["mark"], 1)
            state["mark"] = now
            state["done"] += 1
            if progress:
                progress(state["done"], total)
            if checkpoint:
                checkpoint(draw_)  # under the lock: a save sees no half-recorded pair

    if progress:
        progress(state["done"], total)
    try:
        for style in draw_.styles:
            todo = [q for q, question in enumerate(draw_.questions) if style not in question.greedy]
            work = lambda q, style=style: one(style, q)  # noqa: E731
            if concurrency <= 1:
                for q in todo:
                    work(q)
            else:
                _side_by_side(todo, work, concurrency)
    except BaseException:
        with lock:
            state["stopped"] = True
        raise
    if state["refused"]:
        raise budget.refusal(state["refused"])
    return draw_


def _pair(draw_: Draw, item: Item, q: int, style: str, backend) -> tuple[list[Sample], Sample, Usage]:
    """One question's N samples (one batched call) and its greedy sample, in one style, and
    what they spent."""
    from thinkcli import engine, prompts
    from thinkcli.backends.base import GenParams

    messages = prompts.messages(item.question, style)
    params = GenParams(max_tokens=draw_.max_tokens, temperature=draw_.temperature, seed=draw_.seed + SEED_STRIDE * q)
    engine.forget_cache(backend)  # the same seeds give the same samples, resumed or not
    gens = sorted((e for e in backend.generate(messages, params, draw_.samples) if isinstance(e, Generation)),
                  key=lambda g: g.sample)
    greedy = [e for e in backend.generate(messages, params.with_(temperature=0.0), 1) if isinstance(e, Generation)]
    usage = sum((g.usage for g in [*gens, *greedy]), Usage())
    return [to_sample(item, g, style) for g in gens], to_sample(item, greedy[0], style), usage


def _side_by_side(todo: list[int], work: Callable[[int], None], concurrency: int) -> None:
    """``work`` on every question of ``todo``, ``concurrency`` at once; the first error (or
    Ctrl-C) cancels what has not started and is raised."""
    pool = ThreadPoolExecutor(concurrency, thread_name_prefix="think-draw")
    try:
        for future in as_completed([pool.submit(work, q) for q in todo]):
            future.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def draw(items: Sequence[Item], backend, *, data: str, model_key: str, samples: int, styles: Sequence[str],
         temperature: float, max_tokens: int, seed: int,
         progress: Callable[[int, int], None] | None = None) -> Draw:
    """A whole draw of these questions in one go."""
    fresh = start(items, model=backend.model, data=data, model_key=model_key, samples=samples, styles=styles,
                  temperature=temperature, max_tokens=max_tokens, seed=seed)
    return fill(fresh, items, backend, progress)


def check(draw_: Draw, path: str, **asked) -> None:
    """Refuse a run whose explicit settings (``asked``: the flags given, None when not) differ
    from the saved draw's, naming the first difference.

    >>> d = Draw("m", "k", "dev", 32, ["program"], 0.4, 96, 0)
    >>> check(d, "d.json", samples=None, styles=["program"], max_tokens=96)
    >>> check(d, "d.json", samples=16)
    Traceback (most recent call last):
    thinkcli.errors.UsageError: d.json holds a draw with --samples 32, not 16: give another --draw FILE to draw anew, or drop --samples
    """
    flags = {"samples": "--samples", "styles": "--styles", "max_tokens": "--max-tokens",
             "temperature": "--temperature", "seed": "--seed"}
    for name, value in asked.items():
        if value is None:
            continue
        have = getattr(draw_, name)
        if name == "styles":
            have, value = ",".join(have), ",".join(value)
        if have != value:
            raise UsageError(f"{path} holds a draw with {flags[name]} {have}, not {value}: "
                             f"give another --draw FILE to draw anew, or drop {flags[name]}")


def save(draw_: Draw, path: str | Path) -> None:
    """Write the draw to ``path`` whole or not at all (``files.atomic_write``), into a
    directory that exists: a mistyped directory is an error, not created."""
    from thinkcli.files import atomic_write

    path = Path(path)
    try:
        if not path.parent.is_dir():
            raise FileNotFoundError(2, "No such file or directory")
        atomic_write(path, draw_.to_json())
    except OSError as exc:
        raise UsageError(f"cannot write the draw to {path}: {exc.strerror or exc}") from None


def load(path: str | Path) -> Draw:
    """A saved draw; anything else at ``path`` is a usage error, and it is never read past a
    regular file's end (``/dev/zero`` is not a draw)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"the saved draw {path} is not a regular file; give a file name for --draw")
    if path.stat().st_size > MAX_DRAW:
        raise UsageError(f"{path} is larger than {MAX_DRAW >> 30} GiB, so not a draw saved by think calibrate; "
                         "give another --draw FILE")
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the saved draw {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return Draw.from_json(text)
    except UsageError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError):
        raise UsageError(f"{path} is not a draw saved by think calibrate; give another --draw FILE") from None
