"""How the program style's calculator reads the embedded model's replies: today's calculator
against an earlier revision's (``--before``), on the same replies.

``--set powers``: 30 generated power questions, the greedy reply each (``7^3 = 7 * 7 * 7 = 497``:
the expression right, the arithmetic wrong). ``--set word`` (or any kind of the dev set): the dev
set's calibration split of that kind (never its held-out split), the greedy reply and 8 samples
at temperature 0.4 each; it reports the greedy reply, the mean sample and a majority of 8.

Usage: python benchmarks/acc_calc.py --set powers --before b0e4c41
       python benchmarks/acc_calc.py --set word --before 7bd771e
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from thinkcli import bench, calc, calibrate, prompts
from thinkcli.answers import vote_key
from thinkcli.backends.base import GenParams
from thinkcli.engine import Request, load_backend
from thinkcli.events import Generation

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ("What is {a} to the power of {b}?", "What is {a} raised to the power {b}?", "Compute {a}^{b}.")


def powers(seed: int = 1, count: int = 30) -> list[bench.Item]:
    rng, seen, out = random.Random(seed), set(), []
    while len(out) < count:
        a, b = rng.randint(2, 12), rng.randint(2, 5)
        template = rng.choice(TEMPLATES)
        if a ** b < 10 ** 6 and (a, b) not in seen:
            seen.add((a, b))
            out.append(bench.Item(template.format(a=a, b=b), str(a ** b), kind="power"))
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


def replies(backend, item: bench.Item, q: int, samples: int) -> list[str]:
    """The greedy reply, then ``samples`` sampled ones (seeded by the question's place)."""
    messages = prompts.messages(item.question, "program")
    params = GenParams(max_tokens=96, temperature=0.0, seed=500 + 1000 * q)
    texts = [e.text for e in backend.generate(messages, params, 1) if isinstance(e, Generation)]
    if samples:
        gens = [e for e in backend.generate(messages, params.with_(temperature=0.4), samples) if isinstance(e, Generation)]
        texts += [g.text for g in sorted(gens, key=lambda g: g.sample)]
    return texts


def score(module, item: bench.Item, texts: list[str]) -> Counter:
    answers = [module.answer_in(t, "program", item.question) for t in texts]
    right = [bench.is_correct(item, a, t) for a, t in zip(answers, texts, strict=True)]
    out = Counter(greedy=right[0])
    if len(texts) > 1:
        out["sample"] = sum(right[1:]) / (len(texts) - 1)
        keys = [vote_key(a, item.question) for a in answers[1:]]
        counted = Counter(k for k in keys if k is not None)
        if counted:
            out["majority"] = right[1 + keys.index(counted.most_common(1)[0][0])]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="word", help="powers, or a kind of the dev set (word, choice, arithmetic)")
    parser.add_argument("--before", required=True, help="the revision whose calculator to compare with")
    args = parser.parse_args()
    if args.set == "powers":
        items, samples = powers(), 0
    else:
        calibration, _ = calibrate.split(bench.load_items("dev"), 0.3, 0)
        items, samples = [i for i in calibration if i.kind == args.set], 8
    before, backend = calc_at(args.before), load_backend(Request(""))
    then, now = Counter(), Counter()
    try:
        for q, item in enumerate(items):
            texts = replies(backend, item, q, samples)
            then.update(score(before, item, texts))
            now.update(score(calc, item, texts))
    finally:
        backend.close()
    print(f"{args.set}: {len(items)} questions, the greedy reply" + (f" and {samples} samples" if samples else ""))
    for name in now:
        print(f"  {name:9s} {100 * then[name] / len(items):5.1f}% at {args.before}   {100 * now[name] / len(items):5.1f}% now")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
