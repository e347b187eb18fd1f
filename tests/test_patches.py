"""Candidate parsing: diffs and path-labelled blocks, property tests, malformed replies."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thinkcli.inputs import fenced
from thinkcli.patches import PatchError, changes, parse, unified_diff

# A small alphabet makes repeated lines, so hunks must be placed by their position, not luck.
LINE = st.sampled_from(["a", "b", "c", "", "    return x", "def f():", "x = 1", "# note"])
TEXT = st.lists(LINE, max_size=30).map(lambda ls: "".join(s + "\n" for s in ls))


@st.composite
def edited(draw):
    """A file and an edited version of it: lines replaced, inserted and removed."""
    old = draw(st.lists(LINE, min_size=1, max_size=30))
    new = list(old)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        at = draw(st.integers(0, max(len(new) - 1, 0)))
        if op == "insert" or not new:
            new.insert(at, draw(LINE))
        elif op == "replace":
            new[at] = draw(LINE)
        else:
            del new[at]
    return "".join(s + "\n" for s in old), "".join(s + "\n" for s in new)


@settings(max_examples=300, deadline=None)
@given(edited())
def test_a_diff_of_any_edit_applies_back_to_the_edit(pair):
    old, new = pair
    diff = unified_diff({"m.py": old}, {"m.py": new})
    got = changes(f"Here is the fix:\n```diff\n{diff}```\nFinal answer: see diff", lambda p: old)
    assert got == ({"m.py": new} if new != old else {})


@settings(max_examples=100, deadline=None)
@given(edited(), edited())
def test_a_two_file_bare_diff_applies_both_files(one, two):
    old = {"src/a.py": one[0], "tests/b.py": two[0]}
    new = {"src/a.py": one[1], "tests/b.py": two[1]}
    diff = unified_diff(old, new)
    assert changes(diff, old.get) == {p: t for p, t in new.items() if t != old[p]}


@settings(max_examples=200, deadline=None)
@given(TEXT, st.sampled_from(["src/calc.py", "a.txt", "deep/dir/x.rs", "Makefile"]))
def test_a_path_labelled_block_round_trips_what_think_gives_the_model(text, path):
    reply = "I changed it.\n\n" + fenced(path, text) + "\n\nFinal answer: done"
    assert changes(reply, lambda p: None) == {path: text.rstrip("\n") + "\n"}


@settings(max_examples=100, deadline=None)
@given(edited())
def test_a_diff_with_a_broken_context_line_is_rejected_and_nothing_applies(pair):
    old, new = pair
    diff = unified_diff({"ok.py": "keep\n", "m.py": old}, {"ok.py": "kept\n", "m.py": new})
    if "m.py" not in diff:
        return
    # corrupt one context or removed line of m.py's hunks: the file no longer matches
    head, _, body = diff.partition("--- a/m.py")
    lines = body.splitlines(keepends=True)
    for k, line in enumerate(lines):
        if line[:1] in (" ", "-") and not line.startswith("--- "):
            lines[k] = line[0] + "ZZZ-not-in-the-file\n"
            break
    else:
        return
    broken = head + "--- a/m.py" + "".join(lines)
    with pytest.raises(PatchError, match="does not match"):
        changes(broken, {"ok.py": "keep\n", "m.py": old}.get)


def test_diff_output_is_what_git_apply_accepts(tmp_path):
    (tmp_path / "f.txt").write_text("one\ntwo\nthree")  # no newline at the end
    diff = unified_diff({"f.txt": "one\ntwo\nthree", "gone.txt": "bye\n", "new.txt": None},
                        {"f.txt": "one\n2\nthree\n", "gone.txt": None, "new.txt": "hi\n"})
    (tmp_path / "gone.txt").write_text("bye\n")
    (tmp_path / "p.diff").write_text(diff)
    subprocess.run(["git", "apply", "p.diff"], cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / "f.txt").read_text() == "one\n2\nthree\n"
    assert (tmp_path / "new.txt").read_text() == "hi\n"
    assert not (tmp_path / "gone.txt").exists()
    # and reading it back gives the same changes
    assert changes(diff, {"f.txt": "one\ntwo\nthree", "gone.txt": "bye\n"}.get) == {
        "f.txt": "one\n2\nthree\n", "gone.txt": None, "new.txt": "hi\n"}


@pytest.mark.parametrize("reply", [
    "# file: src/calc.py\n```python\ndef add(a, b):\n    return a + b\n```",
    "File: `src/calc.py`\n\n```python\ndef add(a, b):\n    return a + b\n```",
    "**File: src/calc.py**\n```python\ndef add(a, b):\n    return a + b\n```",
    "```python:src/calc.py\ndef add(a, b):\n    return a + b\n```",
    "```python\n# file: src/calc.py\ndef add(a, b):\n    return a + b\n```",
    '```python path="src/calc.py"\ndef add(a, b):\n    return a + b\n```',
    "--- a/src/calc.py\n+++ b/src/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\nThat fixes it.",
    "```diff\n--- src/calc.py\n+++ src/calc.py\n@@ @@\n def add(a, b):\n-    return a - b\n+    return a + b\n```",
    "```diff\n--- a/src/calc.py\n+++ b/src/calc.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a - b\n+    return a + b\n\n```",
])
def test_accepted_forms(reply):
    old = "def add(a, b):\n    return a - b\n"
    assert changes(reply, {"src/calc.py": old}.get) == {"src/calc.py": "def add(a, b):\n    return a + b\n"}


@pytest.mark.parametrize("reply, reason", [
    ("```python path=src/calc.py\ndef add(a, b):\n    return a +", "not closed"),
    ("```diff\n--- a/src/calc.py\n+++ b/src/calc.py\n@@ -1 +1 @@\n-x\n+y\n", "not closed"),
    ("```python path=../outside.py\nx = 1\n```", "leaves the project"),
    ("```python path=/etc/passwd\nx = 1\n```", "absolute"),
    ("```text path=.git/hooks/pre-commit\nrm -rf ~\n```", "inside .git"),
    ("--- a/src/calc.py\n+++ b/src/calc.py\n@@ -1 +1 @@\n-nothing like this\n+y\n", "hunk 1 of src/calc.py does not match"),
    ("--- a/missing.py\n+++ b/missing.py\n@@ -1 +1 @@\n-x\n+y\n", "does not exist"),
    ("--- /dev/null\n+++ b/src/calc.py\n@@ -0,0 +1 @@\n+x\n", "already exists"),
    ("--- a/src/calc.py\n+++ b/src/calc.py\n@@ -1 +1 @@\n def add(a, b):\n", "changes nothing"),
    ("--- a/src/calc.py\n+++ b/src/calc.py\nno hunks here\n", "no hunks"),
    ("```python path=a.py\nx = 1\n```\n```python path=a.py\nx = 2\n```", "two different versions of a.py"),
])
def test_malformed_replies_are_rejected_with_a_reason(reply, reason):
    with pytest.raises(PatchError, match=reason):
        changes(reply, {"src/calc.py": "def add(a, b):\n    return a - b\n"}.get)


def test_a_bad_second_file_means_the_first_is_not_applied_either():
    reply = ("```python path=good.py\nfine = True\n```\n"
             "--- a/src/calc.py\n+++ b/src/calc.py\n@@ -1 +1 @@\n-absent line\n+y\n")
    with pytest.raises(PatchError):
        changes(reply, {"good.py": "fine = False\n", "src/calc.py": "x\n"}.get)


def test_plain_answers_and_unlabelled_blocks():
    assert parse("The answer is 4.\nFinal answer: 4") == []
    assert parse("Example:\n```python\nprint(1)\n```") == []  # no label: not a file
    [edit] = parse("Example:\n```python\nprint(1)\n```", default_path="main.py")
    assert (edit.path, edit.content) == ("main.py", "print(1)\n")
    # two unlabelled blocks: which is the file is a guess, so none is
    assert parse("```python\na\n```\n```python\nb\n```", default_path="main.py") == []
    # an unclosed unlabelled block is just text
    assert parse("```\nunfinished") == []


def test_a_longer_fence_holds_a_file_with_backticks():
    text = "doc = '''\n```python\nx\n```\n'''\n"
    reply = fenced("doc.py", text)
    assert reply.startswith("````python path=doc.py")
    assert changes(reply, lambda p: None) == {"doc.py": text}


def test_crlf_file_keeps_its_line_endings_on_every_line():
    old = "a\r\nb\r\nc\r\n"
    diff = "--- a/w.txt\n+++ b/w.txt\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"
    assert changes(diff, {"w.txt": old}.get) == {"w.txt": "a\r\nB\r\nc\r\n"}  # no mixed endings
    whole = "```text path=w.txt\na\nB\nc\n```"
    assert changes(whole, {"w.txt": old}.get) == {"w.txt": "a\r\nB\r\nc\r\n"}
