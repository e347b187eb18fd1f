"""Generate thinkcli/data/dev.jsonl: the calibration dev set `think calibrate` measures on.

Seeded, so ``python scripts/make_dev.py`` rewrites the shipped file byte for byte.
Five kinds of question in turn, each with a gold answer `think bench` checks:
bare arithmetic, one- or two-step word problems, multiple choice (gold: the letter; the option's text also counts),
yes/no, and short facts (one word). ``scripts/make_heldout.py`` writes a second set
in other words for results that calibration never sees.

Usage: python scripts/make_dev.py [--seed 12] [--count 400] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

NAMES = ["Ana", "Ben", "Chloe", "Dev", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jack", "Kai", "Lena"]
THINGS = ["apples", "marbles", "stickers", "pencils", "cookies", "books", "coins", "shells"]
CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Germany": "Berlin", "Spain": "Madrid",
            "Egypt": "Cairo", "Russia": "Moscow", "England": "London", "China": "Beijing", "Greece": "Athens",
            "Canada": "Ottawa", "Ireland": "Dublin", "Norway": "Oslo", "Portugal": "Lisbon", "Austria": "Vienna",
            "Kenya": "Nairobi", "Peru": "Lima", "Cuba": "Havana", "Poland": "Warsaw", "Sweden": "Stockholm",
            "Turkey": "Ankara", "Australia": "Canberra", "Belgium": "Brussels", "Denmark": "Copenhagen",
            "Finland": "Helsinki", "Hungary": "Budapest", "Thailand": "Bangkok", "Iran": "Tehran", "Iraq": "Baghdad",
            "Scotland": "Edinburgh", "Wales": "Cardiff", "Vietnam": "Hanoi", "Indonesia": "Jakarta",
            "Romania": "Bucharest", "Bulgaria": "Sofia", "Serbia": "Belgrade"}
OPPOSITES = {"hot": "cold", "big": "small", "up": "down", "fast": "slow", "day": "night", "happy": "sad",
             "open": "closed", "wet": "dry", "old": "new", "light": "dark", "full": "empty", "early": "late",
             "high": "low", "hard": "soft", "thick": "thin", "front": "back", "sweet": "sour", "asleep": "awake",
             "above": "below", "first": "last"}
LEGS = {"spider": 8, "dog": 4, "bird": 2, "insect": 6, "cat": 4, "horse": 4, "octopus": 8, "chicken": 2,
        "ant": 6, "cow": 4, "duck": 2, "bee": 6, "lion": 4, "goat": 4, "beetle": 6, "crab": 10}
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
COLOURS = {"grass": "green", "snow": "white", "the sky on a clear day": "blue", "a banana": "yellow",
           "coal": "black", "a ripe tomato": "red", "milk": "white", "a carrot": "orange", "a lemon": "yellow",
           "blood": "red", "a crow": "black", "a lime": "green", "a strawberry": "red"}


def arithmetic(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(["add", "sub", "mul", "add3", "div"])
    if kind == "add":
        a, b = rng.randint(11, 89), rng.randint(11, 89)
        return f"What is {a} + {b}?", str(a + b)
    if kind == "sub":
        a = rng.randint(30, 99)
        b = rng.randint(5, a - 5)
        return f"What is {a} - {b}?", str(a - b)
    if kind == "mul":
        a, b = rng.randint(3, 12), rng.randint(3, 12)
        return f"What is {a} * {b}?", str(a * b)
    if kind == "div":
        a, b = rng.randint(2, 12), rng.randint(2, 9)
        return f"What is {a * b} / {b}?", str(a)
    a, b, c = rng.randint(2, 30), rng.randint(2, 30), rng.randint(2, 30)
    return f"What is {a} + {b} + {c}?", str(a + b + c)


def word(rng: random.Random) -> tuple[str, str]:
    name, other = rng.sample(NAMES, 2)
    thing = rng.choice(THINGS)
    kind = rng.choice(["more", "give", "groups", "share", "two-step"])
    if kind == "more":
        a, b = rng.randint(3, 25), rng.randint(2, 20)
        return f"{name} has {a} {thing}. {other} gives {name} {b} more. How many {thing} does {name} have now?", str(a + b)
    if kind == "give":
        a = rng.randint(10, 40)
        b = rng.randint(2, a - 2)
        return f"{name} has {a} {thing} and gives {b} of them to {other}. How many {thing} does {name} have left?", str(a - b)
    if kind == "groups":
        a, b = rng.randint(2, 9), rng.randint(2, 9)
        return f"There are {a} bags with {b} {thing} in each bag. How many {thing} are there in total?", str(a * b)
    if kind == "share":
        each, people = rng.randint(2, 9), rng.randint(2, 6)
        return (f"{name} shares {each * people} {thing} equally among {people} friends. "
                f"How many {thing} does each friend get?", str(each))
    a, b, c = rng.randint(5, 20), rng.randint(2, 10), rng.randint(1, 5)
    return f"{name} buys {a} {thing}, then buys {b} more, then loses {c}. How many {thing} does {name} have?", str(a + b - c)


def choice(rng: random.Random) -> tuple[str, tuple[str, str]]:
    """Four options A-D on one line; the gold answer is the letter, and its text also counts."""
    if rng.random() < 0.5:
        a, b = rng.randint(3, 12), rng.randint(3, 12)
        stem, right = f"What is {a} * {b}?", a * b
        wrong = {right + d for d in (-b, b, a, -1, 1, 10)} - {right}
    else:
        a, b = rng.randint(11, 60), rng.randint(11, 60)
        stem, right = f"What is {a} + {b}?", a + b
        wrong = {right + d for d in (-10, 10, -1, 1, 2, -2)} - {right}
    options = [right, *rng.sample(sorted(wrong), 3)]
    rng.shuffle(options)
    letters = "ABCD"
    listed = " ".join(f"{letters[i]}) {v}" for i, v in enumerate(options))
    return f"{stem} {listed}. Answer with the letter.", (letters[options.index(right)], str(right))


def yes_no(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(["greater", "even", "sum", "capital"])
    if kind == "greater":
        a, b = rng.sample(range(5, 100), 2)
        return f"Is {a} greater than {b}? Answer yes or no.", "yes" if a > b else "no"
    if kind == "even":
        a = rng.randint(3, 99)
        return f"Is {a} an even number? Answer yes or no.", "yes" if a % 2 == 0 else "no"
    if kind == "sum":
        a, b = rng.randint(2, 20), rng.randint(2, 20)
        shown = a + b + rng.choice([0, 0, 1, -1, 2])
        return f"Is {a} + {b} equal to {shown}? Answer yes or no.", "yes" if shown == a + b else "no"
    country, city = rng.choice(sorted(CAPITALS.items()))
    named = city if rng.random() < 0.5 else rng.choice(sorted(set(CAPITALS.values()) - {city}))
    return f"Is {named} the capital of {country}? Answer yes or no.", "yes" if named == city else "no"


def fact(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(["capital", "opposite", "legs", "day", "colour"])
    if kind == "capital":
        country, city = rng.choice(sorted(CAPITALS.items()))
        return f"What is the capital of {country}?", city
    if kind == "opposite":
        word_, opp = rng.choice(sorted(OPPOSITES.items()))
        return f"What is the opposite of {word_}? Answer with one word.", opp
    if kind == "legs":
        animal, n = rng.choice(sorted(LEGS.items()))
        return f"How many legs does a {animal} have?", str(n)
    if kind == "day":
        i = rng.randrange(7)
        return f"What day comes after {DAYS[i]}?", DAYS[(i + 1) % 7]
    thing, colour = rng.choice(sorted(COLOURS.items()))
    return f"What colour is {thing}? Answer with one word.", colour


KINDS = [arithmetic, word, choice, yes_no, fact]


def make(seed: int, count: int) -> list[dict]:
    rng = random.Random(seed)
    rows, seen = [], set()
    tries = 0
    while len(rows) < count:
        kind = KINDS[len(rows) % len(KINDS)]
        question, answer = kind(rng)
        tries += 1
        if question in seen and tries < 100 * count:  # small fact pools repeat; allow it only when exhausted
            continue
        seen.add(question)
        row = {"question": question, "answer": answer, "kind": kind.__name__.replace("_", "-")}
        if isinstance(answer, tuple):  # a choice: its letter, and its text also counts
            row.update(answer=answer[0], accept=[answer[1]])
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "thinkcli/data/dev.jsonl")
    args = parser.parse_args()
    rows = make(args.seed, args.count)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} questions to {args.out}")


if __name__ == "__main__":
    main()
