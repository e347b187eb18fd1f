"""`--verify CMD`: a candidate passes when the user's command succeeds on it in the sandbox.

Owns turning a candidate into a sandbox run (its files applied, or its plain
answer on stdin and in ``$THINK_ANSWER_FILE``) and a run into a ``Verdict``:
pass/fail from the exit code, a graded score from pytest's counts, the first
failing line as the detail, the truncated output for ``refine`` to feed back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from thinkcli import patches
from thinkcli.verify.base import Candidate, Verdict
from thinkcli.verify.sandbox import Escape, RunResult, Sandbox, inside, read_regular

_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected|warnings?)\b")
_SUMMARY = re.compile(r"(?:\d+ (?:passed|failed|errors?|skipped|xfailed|xpassed)|no tests ran)\b.* in [\d.]+s")
_FAIL_LINE = (
    re.compile(r"^(?:FAILED|ERROR) \S"),  # pytest's short summary
    re.compile(r"^E {2,}\S"),  # pytest's assertion explanation
    re.compile(r"(?:Error|Exception|error:|FAIL|Traceback)"),
)
_CODE_BLOCK = re.compile(r"```[^\n]*\n(.*?)```", re.DOTALL)
GUESS_LIMIT = 200_000  # bytes: larger files are not matched against piped input
READ_LIMIT = 8 << 20  # bytes: the largest project file a candidate may edit


def pytest_counts(output: str) -> dict[str, int] | None:
    """The counts of pytest's last summary line, or None when there is none.

    >>> pytest_counts("..F\\n=== 1 failed, 2 passed in 0.12s ===")
    {'failed': 1, 'passed': 2}
    >>> pytest_counts("1 error in 0.3s")
    {'errors': 1}
    >>> pytest_counts("make: *** [all] Error 1") is None
    True
    """
    lines = [line for line in output.splitlines() if _SUMMARY.search(line)]
    if not lines:
        return None
    counts: dict[str, int] = {}
    for n, word in _COUNT.findall(lines[-1]):
        word = {"error": "errors", "warning": "warnings"}.get(word, word)
        counts[word] = counts.get(word, 0) + int(n)
    return counts


def first_failing_line(output: str, limit: int = 160) -> str:
    """The line that best says what went wrong: pytest's FAILED line, an ``E`` line,
    a line naming an error, else the last line.

    >>> first_failing_line("ok\\nE   assert 3 == 4\\nFAILED t.py::test_a - assert 3 == 4\\n")
    'FAILED t.py::test_a - assert 3 == 4'
    >>> first_failing_line("building\\nsrc/a.c:3: error: expected ';'\\ndone")
    "src/a.c:3: error: expected ';'"
    """
    lines = [line.rstrip() for line in output.splitlines() if line.strip()]
    for pattern in _FAIL_LINE:
        for line in lines:
            if pattern.search(line):
                return line.strip()[:limit]
    return lines[-1].strip()[:limit] if lines else ""


def verdict_from(run: RunResult, timeout: float, changed: Iterable[str] = ()) -> Verdict:
    """A run's verdict: passed from the exit code, score from pytest's counts when it printed them.

    >>> r = RunResult(1, "F.\\nFAILED t.py::test_a - assert 1 == 2\\n1 failed, 1 passed in 0.1s", False, 0.2)
    >>> v = verdict_from(r, 60)
    >>> v.passed, v.score, v.detail
    (False, 0.5, '1 passed, 1 failed: FAILED t.py::test_a - assert 1 == 2')
    >>> verdict_from(RunResult(0, "", False, 0.1), 60).detail
    'exit 0'
    """
    counts = pytest_counts(run.output)
    passed = run.passed
    extra = {"exit_code": run.exit_code, "timed_out": run.timed_out, "duration_s": round(run.duration_s, 3),
             "changed": sorted(changed)}
    score = 1.0 if passed else 0.0
    if counts is not None:
        extra["counts"] = counts
        good, bad = counts.get("passed", 0), counts.get("failed", 0) + counts.get("errors", 0)
        if good + bad:
            score = good / (good + bad)
        if not passed:
            score = min(score, 0.99)  # a failing exit code never ties a pass
        parts = [f"{good} passed"] + [f"{counts[k]} {k}" for k in ("failed", "errors") if counts.get(k)]
        summary = ", ".join(parts)
    else:
        summary = f"exit {run.exit_code}"
    signum = _signal_of(run.exit_code)
    if signum:
        summary = f"killed by signal {signum}" + (f"; {summary}" if counts is not None else "")
    if run.timed_out:
        detail = f"timed out after {timeout:g} s"
    elif passed:
        detail = summary
    else:
        line = first_failing_line(run.output)
        detail = f"{summary}: {line}" if line else summary
    return Verdict(passed, score, detail, run.output, extra)


def _signal_of(code: int | None) -> int | None:
    """The signal that ended a command: negative from Python, 128+N from a shell.

    >>> _signal_of(-9), _signal_of(137), _signal_of(1), _signal_of(None)
    (9, 9, None, None)
    """
    if code is None:
        return None
    if code < 0:
        return -code
    return code - 128 if 128 < code < 160 else None


def plain_answer(candidate: Candidate) -> str:
    """What a reply without files hands the command: the code of its only code block,
    else its final answer.

    >>> plain_answer(Candidate(0, "x\\n```python\\nprint(1)\\n```", "print(1)", question="q"))
    'print(1)\\n'
    >>> plain_answer(Candidate(0, "Final answer: 4", "4", question="q"))
    '4'
    """
    answer = candidate.answer if candidate.answer is not None else candidate.text
    blocks = _CODE_BLOCK.findall(answer) or _CODE_BLOCK.findall(candidate.text)
    return blocks[0] if len(blocks) == 1 else answer


class CommandVerifier:
    """Runs the user's command on each candidate in a fresh copy of the project."""

    pass_fail = True
    name = "the verify command"

    def __init__(self, command: str, timeout: float = 60.0, cwd: Path | str | None = None,
                 overlays: Mapping[str, bytes] | None = None, allowed: Iterable[str] | None = None,
                 extra_secrets: Iterable[str] = (), default_path: str | None = None,
                 keep_env: Iterable[str] = ()) -> None:
        self.command = command
        self.timeout = timeout
        self.sandbox = Sandbox(cwd, overlays=overlays, extra_secrets=extra_secrets, keep_env=keep_env)
        self.allowed = set(allowed) if allowed is not None else None
        self.default_path = default_path
        self._guesses: dict[str, str | None] = {}

    @property
    def notices(self) -> list[str]:
        """What the user should hear once before candidates are checked."""
        out = self.sandbox.left_out
        if not out:
            return []
        more = f" and {len(out) - 5} more" if len(out) > 5 else ""
        return [f"the verify copy leaves out {len(out)} item(s): {', '.join(out[:5])}{more}"]

    @classmethod
    def for_command(cls, command: str, timeout: float, settings: Mapping, keep_env: Iterable[str] = ()) -> CommandVerifier:
        """``--verify CMD`` in the current project; the key variables the config names are secrets too."""
        providers = settings.get("providers") or {}
        secrets = [p["api_key_env"] for p in providers.values() if isinstance(p, dict) and p.get("api_key_env")]
        return cls(command, timeout=timeout, extra_secrets=secrets, keep_env=keep_env)

    def read(self, path: str) -> str | None:
        """The text of a project file as candidates see it (overlays first)."""
        data = self.sandbox.overlays.get(path)
        if data is None:
            full = self.sandbox.root / path
            if not inside(self.sandbox.root, full):  # decided by the real path, links resolved
                raise patches.PatchError(f"path {path} leads out of the project through a symbolic link")
            real = os.path.relpath(os.path.realpath(full), os.path.realpath(self.sandbox.root))
            if real == ".git" or real.startswith(".git" + os.sep):
                raise patches.PatchError(f"path {path} leads into .git through a symbolic link")
            if not os.path.lexists(full):
                return None
            data = read_regular(full, READ_LIMIT)
            if data is None:
                raise patches.PatchError(f"{path} is not a regular file of at most {READ_LIMIT} bytes")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise patches.PatchError(f"{path} is not UTF-8 text, so a candidate cannot edit it") from None

    def check(self) -> Verdict:
        """The verdict on the project as it is (no candidate applied)."""
        run = self.sandbox.run(self.command, timeout=self.timeout)
        return verdict_from(run, self.timeout)

    def score(self, candidate: Candidate) -> Verdict:
        target = self.default_path or self._guess(candidate.question)
        try:
            edits = patches.file_edits(candidate.text, self.read, target)
            new = patches.changes(candidate.text, self.read, target)
        except patches.PatchError as exc:
            return rejected(str(exc))
        if edits and not new:
            return rejected("its files are the same as the current ones")
        if self.allowed is not None and not edits:
            return rejected("it has no file in it (a fenced block labelled path=FILE, or a diff)")
        if self.allowed is not None:
            outside = sorted(p for p in new if p not in self.allowed)
            if outside:
                return rejected(f"it changes {', '.join(outside)}, which is not among the files being fixed")
        data = {p: (t.encode("utf-8") if t is not None else None) for p, t in new.items()}
        try:
            run = self.sandbox.run(self.command, changes=data, answer=plain_answer(candidate), timeout=self.timeout)
        except Escape as exc:
            return rejected(exc.message)
        verdict = verdict_from(run, self.timeout, new)
        verdict.extra["files"] = new
        return verdict

    def _guess(self, question: str) -> str | None:
        """The project file that was piped in (its text appears verbatim in the question):
        a lone unlabelled code block in a reply replaces it."""
        if question not in self._guesses:
            hits = []
            for name in self.sandbox.files:
                path = self.sandbox.root / name
                if not inside(self.sandbox.root, path):
                    continue
                data = read_regular(path, GUESS_LIMIT)  # never a FIFO or device: they never end
                try:
                    text = data.decode("utf-8").strip() if data is not None else ""
                except UnicodeDecodeError:
                    continue
                if len(text) >= 20 and text in question:
                    hits.append(name)
            self._guesses[question] = hits[0] if len(hits) == 1 else None
        return self._guesses[question]


def rejected(reason: str) -> Verdict:
    """The verdict on a candidate that could not be applied: failed, and the command not run."""
    return Verdict(False, 0.0, f"rejected: {reason}", f"The candidate was not applied: {reason}.",
                   {"rejected": reason, "changed": []})
