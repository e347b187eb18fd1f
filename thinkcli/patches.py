"""Candidate parsing: what files a model's reply changes, and the diff of a change.

A reply changes files with unified diffs (fenced as ```diff or bare) or with
whole files in fenced blocks labelled with their path (```python path=src/calc.py,
the label `think` itself gives files), or after a ``# file: PATH`` / ``File: PATH``
heading. ``changes(text, read)`` turns a reply into new file contents all at
once: a malformed reply raises ``PatchError`` with the reason and nothing of it
is applied. A reply without files is a plain answer (an empty dict).
Pure functions only.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field

Changes = dict[str, "str | None"]  # path -> new text; None deletes the file

_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[ \t]*(.*)$")
_PATH_ATTR = re.compile(r"""(?:^|\s)(?:path|file|filename)=(?:"([^"]+)"|'([^']+)'|(\S+))""")
_LANG_PATH = re.compile(r"^[\w+#.-]+:(\S*[/.]\S*)$")  # ```python:src/calc.py
_HEADING = re.compile(
    r"^[ \t]*(?:#+|//|--)?[ \t]*[*_]*(?:file|path|filename)[ \t]*:[ \t]*[*_`]*([^\s*`]+)[*_`]*[ \t]*$",
    re.IGNORECASE,
)
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_DIFF_LANGS = {"diff", "patch", "udiff"}


class PatchError(ValueError):
    """A reply that cannot be applied as a whole; the message says why."""


@dataclass
class Hunk:
    old_start: int  # 1-based line the hunk says it starts at (0 = unknown)
    lines: list[str] = field(default_factory=list)  # ' x', '-x', '+x'; '\\' marks no newline at EOF

    def sides(self) -> tuple[list[str], list[str]]:
        old: list[str] = []
        new: list[str] = []
        for i, line in enumerate(self.lines):
            if line.startswith("\\"):
                continue
            tag, body = line[:1], line[1:]
            text = body if i + 1 < len(self.lines) and self.lines[i + 1].startswith("\\") else body + "\n"
            if tag in (" ", "-"):
                old.append(text)
            if tag in (" ", "+"):
                new.append(text)
        return old, new


@dataclass
class Edit:
    """One file's change as the reply wrote it: a whole new text, or diff hunks."""

    path: str
    content: str | None = None  # whole file (fenced block)
    hunks: list[Hunk] | None = None  # diff
    create: bool = False  # diff from /dev/null
    delete: bool = False  # diff to /dev/null
    guessed: bool = False  # an unlabelled block taken as ``default_path``


def clean_path(raw: str) -> str:
    """A project-relative path from a label or a diff header; PatchError when it is unsafe.

    >>> clean_path("src/calc.py"), clean_path("./x.py"), clean_path("src\\\\y.py")
    ('src/calc.py', 'x.py', 'src/y.py')
    >>> clean_path("/etc/passwd")
    Traceback (most recent call last):
    ...
    thinkcli.patches.PatchError: path /etc/passwd is absolute; candidates may only change files inside the project
    """
    raw = raw.strip().strip("`'\"").split("\t")[0].strip()
    if raw.startswith("/"):
        raise PatchError(f"path {raw} is absolute; candidates may only change files inside the project")
    path = raw.replace("\\", "/")
    norm = posixpath.normpath(path)
    if norm in ("", ".") or norm == ".." or norm.startswith("../"):
        raise PatchError(f"path {raw} leaves the project")
    if norm == ".git" or norm.startswith(".git/"):
        raise PatchError(f"path {raw} is inside .git")
    return norm


def _diff_path(raw: str) -> str | None:
    raw = raw.split("\t")[0].strip()
    if raw == "/dev/null":
        return None
    if raw[:2] in ("a/", "b/"):
        raw = raw[2:]
    return clean_path(raw)


def _block_path(info: str, before: list[str]) -> str | None:
    m = _PATH_ATTR.search(info)
    if m:
        return clean_path(next(g for g in m.groups() if g))
    first = info.split()[0] if info.split() else ""
    m = _LANG_PATH.match(first)
    if m:
        return clean_path(m.group(1))
    for line in reversed(before[-2:]):  # a heading just above the fence, blank line allowed
        if not line.strip():
            continue
        m = _HEADING.match(line)
        return clean_path(m.group(1)) if m else None
    return None


def parse(text: str, default_path: str | None = None) -> list[Edit]:
    """The edits a reply makes, in order. ``default_path`` names the file a lone unlabelled
    code block replaces (``think fix`` on one file).

    >>> [(e.path, e.content) for e in parse("Here:\\n```python path=a.py\\nx = 2\\n```\\nFinal answer: done")]
    [('a.py', 'x = 2\\n')]
    >>> parse("The answer is 4.")
    []
    """
    lines = text.splitlines()
    edits: list[Edit] = []
    loose: list[str] = []  # unlabelled code blocks
    prose: list[str] = []  # lines outside fences, where a bare diff may sit
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            prose.append(lines[i])
            i += 1
            continue
        fence, info = m.group(1), m.group(2).strip()
        j = i + 1
        while j < len(lines) and not re.match(rf"^[ \t]{{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", lines[j]):
            j += 1
        body = lines[i + 1 : j]
        closed = j < len(lines)
        path = _block_path(info, lines[max(0, i - 2) : i])
        lang = info.split()[0].lower() if info.split() else ""
        is_diff = lang in _DIFF_LANGS or (body and (body[0].startswith("--- ") or body[0].startswith("diff --git")))
        if body and path is None and not is_diff:
            inner = _HEADING.match(body[0])
            if inner:  # "# file: src/calc.py" as the block's first line
                path, body = clean_path(inner.group(1)), body[1:]
        if is_diff:
            if not closed:
                raise PatchError("the diff block is not closed (was the reply cut off?)")
            edits.extend(parse_diff("\n".join(body)))
        elif path is not None:
            if not closed:
                raise PatchError(f"the code block for {path} is not closed (was the reply cut off?)")
            edits.append(Edit(path, content="\n".join(body) + "\n"))
        elif closed and body:
            loose.append("\n".join(body) + "\n")
        prose.append("")  # keeps bare-diff scanning from joining text across a block
        i = j + 1
    bare = "\n".join(prose)
    if re.search(r"^--- \S.*\n\+\+\+ \S", bare, re.MULTILINE):
        edits.extend(parse_diff(bare))
    if not edits and default_path is not None and len(loose) == 1:
        edits.append(Edit(clean_path(default_path), content=loose[0], guessed=True))
    return edits


def parse_diff(text: str) -> list[Edit]:
    """The file edits of a unified diff (git or plain); prose around it is ignored."""
    lines = text.splitlines()
    edits: list[Edit] = []
    i = 0
    while i < len(lines):
        if not (lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")):
            i += 1
            continue
        old, new = _diff_path(lines[i][4:]), _diff_path(lines[i + 1][4:])
        if old is None and new is None:
            raise PatchError("a diff goes from /dev/null to /dev/null")
        edit = Edit(new or old, hunks=[], create=old is None, delete=new is None)
        i += 2
        while i < len(lines) and lines[i].startswith("@@"):
            m = _HUNK.match(lines[i])
            hunk = Hunk(int(m.group(1)) if m else 0)
            want = int(m.group(2) or 1) if m else None  # old-side length the header promises
            i += 1
            while i < len(lines) and _in_hunk(lines, i):
                hunk.lines.append(lines[i] or " ")  # an empty line is context whose space was trimmed
                i += 1
            # Blank lines ending the hunk are the gap before prose unless the header counts them.
            while hunk.lines and hunk.lines[-1] == " " and (want is None or _old_len(hunk) > want):
                hunk.lines.pop()
            if not any(line[0] in "+-" for line in hunk.lines):
                raise PatchError(f"a hunk for {edit.path} changes nothing")
            edit.hunks.append(hunk)
        if not edit.hunks and not edit.delete:
            raise PatchError(f"the diff for {edit.path} has no hunks")
        edits.append(edit)
    return edits


def _in_hunk(lines: list[str], i: int) -> bool:
    line = lines[i]
    if line.startswith("@@") or line.startswith("diff --git"):
        return False
    if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
        return False
    return line == "" or line[0] in " +-\\"


def _old_len(hunk: Hunk) -> int:
    return sum(1 for line in hunk.lines if line[:1] in (" ", "-"))


def _find(haystack: list[str], needle: list[str], hint: int) -> int | None:
    """Where ``needle`` occurs in ``haystack``, nearest to ``hint``; whitespace at line
    ends is ignored only when there is no exact match."""
    if not needle:
        return min(max(hint, 0), len(haystack))
    for key in (lambda s: s.rstrip("\r\n"), lambda s: s.rstrip()):
        hay = [key(s) for s in haystack]
        want = [key(s) for s in needle]
        spots = [k for k in range(len(hay) - len(want) + 1) if hay[k : k + len(want)] == want]
        if spots:
            return min(spots, key=lambda k: (abs(k - hint), k))
    return None


def apply_hunks(path: str, text: str, hunks: list[Hunk]) -> str:
    """``text`` with the hunks applied in order; PatchError when one does not match."""
    lines = text.splitlines(keepends=True)
    offset = 0
    for n, hunk in enumerate(hunks, 1):
        old, new = hunk.sides()
        hint = (hunk.old_start - 1 if hunk.old_start else 0) + offset
        at = _find(lines, old, hint)
        if at is None:
            first = next((s.rstrip() for s in old if s.strip()), "")
            raise PatchError(f"hunk {n} of {path} does not match the file (looked for {first!r})")
        # Keep the file's own line endings on context lines.
        kept = {s.rstrip("\r\n"): lines[at + k] for k, s in enumerate(old) if lines[at + k].endswith("\n")}
        replacement = [kept.get(s.rstrip("\r\n"), s) if s.endswith("\n") else s for s in new]
        lines[at : at + len(old)] = replacement
        offset += len(new) - len(old)
    return "".join(lines)


def changes(text: str, read: Callable[[str], str | None], default_path: str | None = None) -> Changes:
    """The new contents of every file a reply changes, computed as a whole before anything
    is written. ``read(path)`` gives a file's current text or None when it does not exist.

    >>> changes("```text path=n.txt\\nnew\\n```", lambda p: "old\\n")
    {'n.txt': 'new\\n'}
    """
    edits = file_edits(text, read, default_path)
    _no_conflicting_wholes(edits)
    original: dict[str, str | None] = {}
    current: dict[str, str | None] = {}
    for edit in edits:
        if edit.path not in current:
            original[edit.path] = current[edit.path] = read(edit.path)
        now = current[edit.path]
        if edit.content is not None:
            current[edit.path] = edit.content
        elif edit.delete:
            if now is None:
                raise PatchError(f"the diff deletes {edit.path}, which does not exist")
            current[edit.path] = None
        else:
            if edit.create and now is not None and now.strip():
                raise PatchError(f"the diff creates {edit.path}, which already exists")
            if now is None and not edit.create:
                raise PatchError(f"the diff changes {edit.path}, which does not exist")
            current[edit.path] = apply_hunks(edit.path, now or "", edit.hunks or [])
    current = {p: keep_line_endings(original[p], t) for p, t in current.items()}
    return {p: t for p, t in current.items() if t != original[p]}


def keep_line_endings(old: str | None, new: str | None) -> str | None:
    r"""``new`` with ``old``'s line endings: a model writes ``\n``, and a CRLF file must not
    come back with mixed endings.

    >>> keep_line_endings("a\r\nb\r\n", "a\nc\r\nd\n")
    'a\r\nc\r\nd\r\n'
    >>> keep_line_endings("a\nb\n", "a\r\nc\n")
    'a\nc\n'
    """
    if old is None or new is None:
        return new
    crlf = old.count("\r\n")
    if crlf == 0 and "\r\n" not in new:
        return new
    unix = new.replace("\r\n", "\n")
    return unix.replace("\n", "\r\n") if crlf * 2 > old.count("\n") else unix


def file_edits(text: str, read: Callable[[str], str | None], default_path: str | None = None) -> list[Edit]:
    """``parse``, except that an unlabelled block is only taken as ``default_path`` when it
    shares a line with that file: quoted output or an example is not the file.

    >>> file_edits("```\\nF [100%]\\n```", lambda p: "x = 1\\n", "a.py")
    []
    >>> [e.path for e in file_edits("```\\nx = 1\\ny = 2\\n```", lambda p: "x = 1\\n", "a.py")]
    ['a.py']
    """
    edits = parse(text, default_path)
    if len(edits) == 1 and edits[0].guessed:
        old = read(edits[0].path)
        mine = {line.strip() for line in (edits[0].content or "").splitlines() if line.strip()}
        if old is not None and not mine & {line.strip() for line in old.splitlines() if line.strip()}:
            return []
    return edits


def _no_conflicting_wholes(edits: list[Edit]) -> None:
    seen: dict[str, str] = {}
    for e in edits:
        if e.content is None:
            continue
        if e.path in seen and seen[e.path] != e.content:
            raise PatchError(f"the reply gives two different versions of {e.path}")
        seen[e.path] = e.content


def unified_diff(old: dict[str, str | None], new: Changes) -> str:
    """A git-style diff (``git apply`` reads it) from old to new contents of each path.

    >>> print(unified_diff({"a.py": "x = 1\\n"}, {"a.py": "x = 2\\n"}), end="")
    diff --git a/a.py b/a.py
    --- a/a.py
    +++ b/a.py
    @@ -1 +1 @@
    -x = 1
    +x = 2
    """
    out: list[str] = []
    for path in sorted(new):
        before, after = old.get(path), new[path]
        if before == after:
            continue
        a = f"a/{path}" if before is not None else "/dev/null"
        b = f"b/{path}" if after is not None else "/dev/null"
        out.append(f"diff --git a/{path} b/{path}\n")
        if before is None:
            out.append("new file mode 100644\n")
        elif after is None:
            out.append("deleted file mode 100644\n")
        body = difflib.unified_diff(
            (before or "").splitlines(keepends=True), (after or "").splitlines(keepends=True), a, b
        )
        for line in body:
            out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)
