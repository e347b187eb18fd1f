"""The calibration dev set (shipped) and the held-out generator: reproducible, mixed,
gold answers that the checker accepts, and wording that differs between the two."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

from tests.conftest import ROOT
from thinkcli import bench
from thinkcli.answers import vote_key

KINDS = {"arithmetic", "word", "choice", "yes-no", "fact"}


def _generate(script: str, out, *args: str) -> list[dict]:
    subprocess.run([sys.executable, str(ROOT / "scripts" / script), "--out", str(out), *args], check=True,
                   capture_output=True)
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_dev_generator_reproduces_the_shipped_file(tmp_path):
    _generate("make_dev.py", tmp_path / "dev.jsonl")
    assert (tmp_path / "dev.jsonl").read_text() == (ROOT / "thinkcli/data/dev.jsonl").read_text()


def test_shipped_dev_set_mixes_five_kinds_with_checkable_answers():
    items = bench.load_items("dev")
    assert len(items) >= 200
    assert len({i.question for i in items}) == len(items)
    assert Counter(i.kind for i in items) == {k: len(items) // 5 for k in KINDS}
    for item in items:
        assert vote_key(item.answer) is not None
        assert bench.is_correct(item, item.answer, "")
        if item.kind == "choice":
            assert item.answer in "ABCD"
            shown = dict(re.findall(r"([A-D])\) (\d+)", item.question))
            expr = item.question.split("?")[0][len("What is "):]
            assert int(shown[item.answer]) == eval(expr, {"__builtins__": {}})  # the gold letter is right
        elif item.kind == "yes-no":
            assert item.answer in ("yes", "no")


def _template(question: str) -> str:
    """A question's wording without its numbers and names."""
    return re.sub(r"\b[A-Z][a-z]+\b", "W", re.sub(r"\d+", "#", question)).split("\n")[0]


def test_heldout_generator_words_every_question_differently(tmp_path):
    held = _generate("make_heldout.py", tmp_path / "h.jsonl", "--count", "120")
    again = _generate("make_heldout.py", tmp_path / "h2.jsonl", "--count", "120")
    assert held == again  # seeded
    assert len(held) == 120 and len({r["question"] for r in held}) == 120
    dev = bench.load_items("dev")
    assert not {_template(r["question"]) for r in held} & {_template(i.question) for i in dev}
    assert not {r["question"] for r in held} & {i.question for i in dev}
    for item in bench.load_items(str(tmp_path / "h.jsonl")):
        assert bench.is_correct(item, item.answer, "")
