"""Generate thinkcli/data/arith.jsonl: small arithmetic questions with exact answers.

Seeded, so the shipped file is reproducible: ``python scripts/make_arith.py``
rewrites it byte for byte. Half are bare sums and products, half are one- or
two-step word problems; every answer is a whole number.

Usage: python scripts/make_arith.py [--seed 2024] [--count 50] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

NAMES = ["Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jack", "Kai", "Lena"]
THINGS = ["apples", "marbles", "stickers", "pencils", "cookies", "books", "coins", "shells"]


def bare(rng: random.Random) -> tuple[str, int]:
    kind = rng.choice(["add", "sub", "mul", "add3"])
    if kind == "add":
        a, b = rng.randint(11, 89), rng.randint(11, 89)
        return f"What is {a} + {b}?", a + b
    if kind == "sub":
        a = rng.randint(30, 99)
        b = rng.randint(5, a - 5)
        return f"What is {a} - {b}?", a - b
    if kind == "mul":
        a, b = rng.randint(3, 12), rng.randint(3, 12)
        return f"What is {a} * {b}?", a * b
    a, b, c = rng.randint(2, 30), rng.randint(2, 30), rng.randint(2, 30)
    return f"What is {a} + {b} + {c}?", a + b + c


def word(rng: random.Random) -> tuple[str, int]:
    name, other = rng.sample(NAMES, 2)
    thing = rng.choice(THINGS)
    kind = rng.choice(["more", "give", "groups", "share", "two-step"])
    if kind == "more":
        a, b = rng.randint(3, 25), rng.randint(2, 20)
        return f"{name} has {a} {thing}. {other} gives {name} {b} more. How many {thing} does {name} have now?", a + b
    if kind == "give":
        a = rng.randint(10, 40)
        b = rng.randint(2, a - 2)
        return f"{name} has {a} {thing} and gives {b} of them to {other}. How many {thing} does {name} have left?", a - b
    if kind == "groups":
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        return f"There are {a} bags with {b} {thing} in each bag. How many {thing} are there in total?", a * b
    if kind == "share":
        each, people = rng.randint(2, 9), rng.randint(2, 6)
        return (f"{name} shares {each * people} {thing} equally among {people} friends. "
                f"How many {thing} does each friend get?", each)
    a, b, c = rng.randint(5, 20), rng.randint(2, 10), rng.randint(1, 5)
    return (f"{name} buys {a} {thing}, then buys {b} more, then loses {c}. "
            f"How many {thing} does {name} have?", a + b - c)


def make(seed: int, count: int) -> list[dict]:
    rng = random.Random(seed)
    rows, seen = [], set()
    while len(rows) < count:
        question, answer = (bare if len(rows) % 2 == 0 else word)(rng)
        if question in seen:
            continue
        seen.add(question)
        rows.append({"question": question, "answer": str(answer)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--count", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "thinkcli/data/arith.jsonl")
    args = parser.parse_args()
    rows = make(args.seed, args.count)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} problems to {args.out}")


if __name__ == "__main__":
    main()
