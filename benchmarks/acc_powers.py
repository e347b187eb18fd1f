"""The program style's calculator on powers: the embedded model's greedy replies to 30 power
questions, read by today's calculator and by the one before powers (from git, ``--before``).

The model writes ``7^3 = 7 * 7 * 7 = 497``: the expression is right, the arithmetic is not.

Usage: python benchmarks/acc_powers.py [--before b0e4c41] [--seed 1]
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
import tempfile
from pathlib import Path

from thinkcli import api, calc

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ("What is {a} to the power of {b}?", "What is {a} raised to the power {b}?", "Compute {a}^{b}.")


def questions(seed: int, count: int = 30) -> list[tuple[str, int]]:
    rng, seen, out = random.Random(seed), set(), []
    while len(out) < count:
        a, b = rng.randint(2, 12), rng.randint(2, 5)
        template = rng.choice(TEMPLATES)
        if a ** b < 10 ** 6 and (a, b) not in seen:
            seen.add((a, b))
            out.append((template.format(a=a, b=b), a ** b))
    return out


def calc_at(rev: str):
    source = subprocess.run(["git", "show", f"{rev}:thinkcli/calc.py"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout
    path = Path(tempfile.mkdtemp()) / "calc_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("calc_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="b0e4c41", help="a revision whose calculator has no powers")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    before = calc_at(args.before)
    right_before = right_now = 0
    qs = questions(args.seed)
    for question, value in qs:
        text = api.run(question, max_tokens=48, prompt_style="program", temperature=0.0).candidates[0].text
        then, now = before.answer_in(text, "program", question), calc.answer_in(text, "program", question)
        right_before += then == str(value)
        right_now += now == str(value)
        print(f"{question:40s} {value:>8}  before {then!s:>10.10}  now {now!s:>8}  | {text[:48]!r}")
    print(f"right: {right_before}/{len(qs)} before, {right_now}/{len(qs)} now", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
