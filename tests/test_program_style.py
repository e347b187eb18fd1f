"""The `program` prompt style: the model writes the arithmetic, calc.py computes it.

The calculator is exact on hand-built expressions and inert on hostile text; the
style reaches the prompt, the vote and the calibration draw (scripted backend);
and the real embedded model's reply is read by its expression through `think`.
"""

from __future__ import annotations

import json
import random
from fractions import Fraction

import pytest

from thinkcli import calc, draws, engine, prompts
from thinkcli.answers import vote_key
from thinkcli.bench import Item
from thinkcli.engine import Request
from thinkcli.errors import UsageError
from thinkcli.events import ListSink
from thinkcli.profiles import check

WORD = "There are 4 bags with 9 marbles in each bag. How many marbles are there in total?"


@pytest.mark.parametrize("text, value", [
    ("4 * 9", "36"), ("4*9 = 36", "36"), ("(18 + 9) - 4\nSo 23 coins.", "23"), ("36 / 4", "9"),
    ("7 / 2", "3.5"), ("10 - 12", "-2"), ("3 × 4 ÷ 6", "2"), ("2 x (3 + 4)", "14"),
    ("1,200 + 300", "1500"), ("0.1 + 0.2", "0.3"), ("The total is 4 * 9 marbles", "36"),
    ("2^10 = 1001 in base 10.", "1024"), ("3 ** 4 = 64", "81"), ("-2^2", "-4"), ("2^3^2", "512"),
    ("(1/2)^2", "0.25"), ("2^-2 * 8", "2"), ("7^3 = 7 * 7 * 7 = 497", "343"),
    # what a small model writes around its expression: list markers, units before an operator
    ("1. 8 bags * 6 books = 60 books\n2. 60 bags * 1 book = 60 books", "48"),
    ("13 (apples) + 8 (apples) - 2 (apples) = 22 apples", "19"), ("7 bags x 4 apples / bag = 24 apples", "28"),
    ("- 40 coins / 5 friends = 6 coins", "8"), ("He has 15 red marbles + 15 more = 25", "30"),
])
def test_the_calculator_reads_the_first_expression_exactly(text, value):
    assert calc.evaluate(text) == value


@pytest.mark.parametrize("text", [
    "", "36", "The answer is thirty-six.", "1 / 0", "2 ** 999999", "__import__('os').system('id')",
    "(" * 500 + "1" + ")" * 500, "9" * 16 + " * 9", "4 * (9", "--",
    "999^999", "9^9^9", "2^0.5", "0^-1", "(2^20)^20",
    "Sam has 3 apples - he eats one.", "1. Add the apples\n2. Count them", "9 bags with 7 shells each",
])
def test_the_calculator_gives_nothing_for_what_is_not_arithmetic(text):
    assert calc.evaluate(text) is None


def test_the_calculator_never_raises_on_random_text():
    rng = random.Random(5)
    alphabet = "0123456789+-*/^().,= x×÷abc\n"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        value = calc.evaluate(text)
        assert value is None or Fraction(value) is not None


def test_a_value_agrees_with_python_on_random_expressions():
    rng = random.Random(11)
    for _ in range(500):
        a, b, c = (rng.randint(1, 999) for _ in range(3))
        op1, op2 = rng.choice("+-*"), rng.choice("+-*")
        text = f"{a} {op1} ({b} {op2} {c})"
        assert calc.evaluate(text) == str(eval(text)), text  # our own parser, checked against Python's
        power = f"{rng.choice('-' * 1 + ' ' * 3).strip()}{a % 50} {op1} {b % 30} ** {c % 4} ** {a % 3}"
        assert calc.evaluate(power) == str(eval(power)), power  # powers bind tighter, from the right


def test_questions_with_nothing_to_compute_are_asked_directly():
    yes_no = "Is 46 an even number? Answer yes or no."
    assert prompts.ask(yes_no, "program") == prompts.ask(yes_no, "direct")
    assert prompts.ask("What is the capital of Greece?", "program") == prompts.ask("What is the capital of Greece?",
                                                                                  "direct")
    asked = prompts.ask(WORD, "program")
    assert asked.startswith(WORD) and "expression" in asked and "Final answer" not in asked


def test_code_and_documents_are_asked_directly_even_with_numbers_in_them(fake):
    diff = "review this\n\ndiff --git a/x.py b/x.py\n@@ -1,2 +1,2 @@\n-x = 1 + 2\n+x = 1 + 3\n"
    fake.enqueue("Looks fine.\nFinal answer: 1 + 3 is intended")
    result = engine.run(Request(diff, strategy="cot", prompt_style="program"), ListSink(), backend=fake)
    asked = fake.calls[0].messages[-1]["content"]
    assert asked == prompts.ask(diff, "direct") and result.answer == "1 + 3 is intended"
    long_story = "Ana has 3 apples. " * 40 + "How many apples?"
    assert prompts.ask(long_story, "program") == prompts.ask(long_story, "direct")


def test_a_computed_option_votes_as_its_letter():
    question = "What is 10 * 12? A) 120 B) 108 C) 121 D) 119. Answer with the letter."
    answer = calc.answer_in("10 * 12", "program", question)
    assert answer == "120" and vote_key(answer, question) == vote_key("A", question)


def test_a_program_vote_counts_values_not_texts(fake):
    fake.enqueue("4 * 9", "4*9 = 36", "4 + 9", "9 * 4\nThere are 36 marbles.", "Final answer: 13")
    sink = ListSink()
    result = engine.run(Request(WORD, strategy="vote", samples=5, prompt_style="program",
                                plan_overrides={"round_size": 5}), sink, backend=fake)
    assert result.answer == "36"
    assert result.votes == {"36": 3, "13": 2}
    asked = fake.calls[0].messages[-1]["content"]
    assert "expression" in asked


def test_other_styles_do_not_evaluate_what_the_model_wrote(fake):
    fake.enqueue("4 + 9 = 36\nFinal answer: 13")
    result = engine.run(Request(WORD, strategy="cot", prompt_style="direct"), ListSink(), backend=fake)
    assert result.answer == "13"


def test_the_calibration_draw_reads_program_samples_by_value(fake):
    fake.responder = lambda call, i: "4 * 9" if call.params.temperature else "4 + 9"
    drawn = draws.draw([Item(WORD, "36", kind="word")], fake, data="t", model_key="k", samples=4,
                           styles=["program"], temperature=0.4, max_tokens=16, seed=0)
    q = drawn.questions[0]
    assert [s.correct for s in q.samples["program"]] == [True] * 4
    assert q.greedy["program"].answer == vote_key("13") and not q.greedy["program"].correct


def test_a_profile_may_name_the_program_style_and_nothing_else_new():
    base = {"key": "k", "model": "m", "effort": {"high": {"prompt_style": "program", "samples": 8}}}
    assert check(base, "p")["effort"]["high"]["prompt_style"] == "program"
    base["effort"]["high"]["prompt_style"] = "python"
    with pytest.raises(UsageError, match="direct, steps or program"):
        check(base, "p")


@pytest.mark.model
def test_the_embedded_model_answers_by_the_expression_it_wrote(think, embedded_model):
    proc = think("-m", str(embedded_model), "--json", "--prompt-style", "program", "--strategy", "vote",
                 "-n", "4", "--seed", "3", "--max-tokens", "48", WORD)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = json.loads(proc.stdout)
    assert out["plan"]["prompt_style"] == "program" and out["plan"]["sources"]["prompt_style"] == "flag"
    for sample in out["samples"]:  # every answer is what calc makes of that sample's own text
        assert sample["answer"] == calc.answer_in(sample["text"], "program", WORD)
    assert any(calc.evaluate(s["text"]) for s in out["samples"]), [s["text"] for s in out["samples"]]
    assert out["answer"] in {s["answer"] for s in out["samples"]}


@pytest.mark.model
def test_the_calculator_does_the_power_the_embedded_model_gets_wrong(think, embedded_model):
    """At the default effort (the shipped profile's greedy program reply) the model writes
    ``7^3 = 7 * 7 * 7 = 497``: the expression is right, its arithmetic is not."""
    out = json.loads(think("-m", str(embedded_model), "--json", "--max-tokens", "48",
                           "What is 7 to the power of 3?").stdout)
    assert out["samples"][0]["text"].startswith("7^3") and "343" not in out["samples"][0]["text"]
    assert out["answer"] == "343"


def test_the_command_line_offers_the_styles_the_rest_accepts():
    from thinkcli import config
    from thinkcli.cli_app import PromptStyle

    assert tuple(s.value for s in PromptStyle) == config.PROMPT_STYLES
    assert prompts.STYLES == (*config.PROMPT_STYLES, "plain")
