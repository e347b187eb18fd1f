"""Generate a held-out question set worded unlike the dev set (scripts/make_dev.py).

Results are reported on this set and calibration never sees it, so its templates,
phrasing, names, option layout and order of kinds all differ from the dev set's:
arithmetic in words and as equations, money/time/age word problems, multiple
choice with options on their own lines as (a)-(d), true/false statements
(gold: yes/no), and short facts asked another way. Not shipped: write it where you
want it.

Usage: python scripts/make_heldout.py --out heldout.jsonl [--seed 99] [--count 120]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

PEOPLE = ["Maya", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Victor", "Wen", "Yusuf", "Zoe"]
ITEMS = [("notebook", "notebooks"), ("ticket", "tickets"), ("sandwich", "sandwiches"), ("plant", "plants"),
         ("toy car", "toy cars"), ("candle", "candles")]
CITIES = {"Paris": "France", "Tokyo": "Japan", "Rome": "Italy", "Berlin": "Germany", "Madrid": "Spain",
          "Cairo": "Egypt", "Moscow": "Russia", "London": "England", "Beijing": "China", "Athens": "Greece",
          "Ottawa": "Canada", "Dublin": "Ireland", "Oslo": "Norway", "Lisbon": "Portugal", "Vienna": "Austria"}
ANTONYMS = {"tall": "short", "strong": "weak", "rich": "poor", "loud": "quiet", "clean": "dirty",
            "heavy": "light", "near": "far", "win": "lose", "push": "pull", "begin": "end"}
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
PLURALS = {"mouse": "mice", "child": "children", "tooth": "teeth", "foot": "feet", "man": "men", "goose": "geese"}


def equation(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(["plus", "minus", "times", "missing", "halve"])
    if kind == "plus":
        a, b = rng.randint(12, 95), rng.randint(12, 95)
        return f"Compute {a} plus {b}.", str(a + b)
    if kind == "minus":
        a = rng.randint(40, 120)
        b = rng.randint(3, a - 10)
        return f"Subtract {b} from {a}. What do you get?", str(a - b)
    if kind == "times":
        a, b = rng.randint(2, 15), rng.randint(2, 9)
        return f"{a} x {b} = ?", str(a * b)
    if kind == "missing":
        a, b = rng.randint(3, 40), rng.randint(3, 40)
        return f"Find the number n such that n + {a} = {a + b}.", str(b)
    a = 2 * rng.randint(5, 60)
    return f"Half of {a} is how much?", str(a // 2)


def story(rng: random.Random) -> tuple[str, str]:
    p, q = rng.sample(PEOPLE, 2)
    one, many = rng.choice(ITEMS)
    kind = rng.choice(["price", "age", "minutes", "rows", "spend"])
    if kind == "price":
        each, n = rng.randint(2, 9), rng.randint(2, 8)
        return f"One {one} costs {each} dollars. How many dollars do {n} {many} cost?", str(each * n)
    if kind == "age":
        age, gap = rng.randint(5, 30), rng.randint(2, 12)
        return f"{p} is {age} years old. {q} is {gap} years older than {p}. How old is {q}?", str(age + gap)
    if kind == "minutes":
        a, b = rng.randint(10, 45), rng.randint(5, 30)
        return (f"{p} reads for {a} minutes in the morning and {b} minutes at night. "
                f"How many minutes does {p} read in all?", str(a + b))
    if kind == "rows":
        r, c = rng.randint(2, 8), rng.randint(3, 9)
        return f"A garden has {r} rows of {many} with {c} in every row. How many {many} are in the garden?", str(r * c)
    wallet, spent = rng.randint(20, 60), rng.randint(3, 19)
    return f"{p} had {wallet} dollars and spent {spent} dollars on a {one}. How much money is left?", str(wallet - spent)


def options(rng: random.Random) -> tuple[str, tuple[str, str]]:
    """Options (a)-(d), one per line, and a question after them; gold is the letter, and its text also counts."""
    if rng.random() < 0.5:
        a, b = rng.randint(20, 90), rng.randint(3, 19)
        stem, right = f"Which is the result of {a} minus {b}?", a - b
        wrong = {right + d for d in (-10, 10, -1, 1, b)} - {right}
    else:
        city, country = rng.choice(sorted(CITIES.items()))
        others = rng.sample(sorted(set(CITIES) - {city}), 3)
        choices = [city, *others]
        rng.shuffle(choices)
        lines = "\n".join(f"({'abcd'[i]}) {c}" for i, c in enumerate(choices))
        return (f"Which city is the capital of {country}?\n{lines}\nReply with (a), (b), (c) or (d).",
                ("abcd"[choices.index(city)].upper(), city))
    values = [right, *rng.sample(sorted(wrong), 3)]
    rng.shuffle(values)
    lines = "\n".join(f"({'abcd'[i]}) {v}" for i, v in enumerate(values))
    return f"{stem}\n{lines}\nReply with (a), (b), (c) or (d).", ("abcd"[values.index(right)].upper(), str(right))


def true_false(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(["smaller", "odd", "product", "month"])
    if kind == "smaller":
        a, b = rng.sample(range(10, 200), 2)
        return f"True or false: {a} is smaller than {b}.", "yes" if a < b else "no"
    if kind == "odd":
        a = rng.randint(10, 150)
        return f"True or false: {a} is odd.", "yes" if a % 2 else "no"
    if kind == "product":
        a, b = rng.randint(2, 10), rng.randint(2, 10)
        shown = a * b + rng.choice([0, 0, a, -1, 1])
        return f"True or false: {a} times {b} makes {shown}.", "yes" if shown == a * b else "no"
    i = rng.randrange(12)
    j = (i + 1) % 12 if rng.random() < 0.5 else (i + rng.randint(2, 10)) % 12
    return f"True or false: {MONTHS[j]} is the month right after {MONTHS[i]}.", "yes" if j == (i + 1) % 12 else "no"


def trivia(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(["city", "antonym", "month", "plural", "count"])
    if kind == "city":
        city, country = rng.choice(sorted(CITIES.items()))
        return f"Name the capital city of {country}.", city
    if kind == "antonym":
        w, a = rng.choice(sorted(ANTONYMS.items()))
        return f"Give one word meaning the opposite of '{w}'.", a
    if kind == "month":
        i = rng.randrange(12)
        return f"Which month follows {MONTHS[i]}?", MONTHS[(i + 1) % 12]
    if kind == "plural":
        w, p = rng.choice(sorted(PLURALS.items()))
        return f"What is the plural of the word '{w}'?", p
    thing, n = rng.choice([("days in a week", 7), ("months in a year", 12), ("hours in a day", 24),
                           ("minutes in an hour", 60), ("sides of a triangle", 3), ("sides of a square", 4)])
    return f"How many {thing} are there?", str(n)


KINDS = [story, true_false, trivia, equation, options]  # another order than the dev set's


def make(seed: int, count: int) -> list[dict]:
    rng = random.Random(seed)
    rows, seen = [], set()
    tries = 0
    while len(rows) < count:
        kind = KINDS[len(rows) % len(KINDS)]
        question, answer = kind(rng)
        tries += 1
        if question in seen and tries < 100 * count:
            continue
        seen.add(question)
        row = {"question": question, "answer": answer, "kind": kind.__name__.replace("_", "-")}
        if isinstance(answer, tuple):  # a choice: its letter, and its text also counts
            row.update(answer=answer[0], accept=[answer[1]])
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=99)
    parser.add_argument("--count", type=int, default=120)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    rows = make(args.seed, args.count)
    args.out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} questions to {args.out}")


if __name__ == "__main__":
    main()
