"""Answer extraction and normalisation, and the voting arithmetic: examples and
hypothesis properties."""

from __future__ import annotations

import string
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from thinkcli.answers import code_key, extract, vote_key
from thinkcli.strategies import voting

# -- extraction -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("7 + 5 = 12\nFinal answer: 12", "12"),
        ('Tom has 12. The answer is "Final answer: 12".', "12"),
        ("**Final Answer:** **42**", "42"),
        ("<think>Final answer: 3</think>Final answer: 4", "4"),
        ("Final answer: first\nmore\nFinal answer: second", "second"),
        ("so it is \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("I believe the answer is (C).", "(C)"),
        ("Final answer:\n```python\ndef f():\n    return 1\n```", "```python\ndef f():\n    return 1\n```"),
    ],
)
def test_extract(text, answer):
    assert extract(text).answer == answer


def test_unmarked_reply_is_the_whole_body():
    e = extract("  81 - 37 = 44  ")
    assert (e.answer, e.marked) == ("81 - 37 = 44", False)
    assert vote_key(e.answer) == "44"


# -- normalisation examples ---------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1,234", "1234"),
        ("$12.50", "12.5"),
        ("25/50", "0.5"),
        ("-7", "-7.00"),
        ("7 + 5 = 12 apples", "12"),
        ("12 apples, because 7 + 5", "12"),
        ("Twelve", "12"),
        ("(d)", "D."),
        ("Yes, it is", "yes"),
        ("False.", "no"),
        ("The Eiffel Tower!", "the eiffel tower"),
        ("```python\ndef f(x):  # doubles\n    return x*2\n```", "```py\n\ndef f(x):\n    return x*2   \n```"),
    ],
)
def test_equal_answers_share_a_key(a, b):
    assert vote_key(a) == vote_key(b) is not None


@pytest.mark.parametrize(
    ("a", "b"),
    [("12", "13"), ("1/2", "1/3"), ("A", "B"), ("yes", "no"), ("Paris", "London"),
     ("```python\nx = a // b\n```", "```python\nx = a\n```"),
     ("```python\ns = '#1'\n```", "```python\ns = ''\n```")],
)
def test_different_answers_differ(a, b):
    assert vote_key(a) != vote_key(b)


def test_empty_answers_have_no_key():
    assert vote_key(None) is None and vote_key("   ") is None and vote_key('""') is None


# -- normalisation properties ------------------------------------------------------


@given(st.integers(-10**9, 10**9))
def test_integer_spellings_agree(n):
    key = vote_key(str(n))
    assert key == str(n)
    assert vote_key(f"{n}.0") == vote_key(f"{n:,}") == vote_key(f" {n}. ") == vote_key(f"**{n}**") == key
    assert vote_key(f"Final answer: {n}") == vote_key(extract(f"so\nFinal answer: {n}").answer) == key


@given(st.integers(-500, 500), st.integers(1, 500), st.integers(1, 9))
def test_fractions_agree_by_value(p, q, k):
    assert vote_key(f"{p}/{q}") == vote_key(f"{p * k}/{q * k}")
    value = Fraction(p, q)
    if 10**6 % value.denominator == 0:  # a terminating decimal
        decimal = f"{float(value):.6f}"
        assert vote_key(decimal) == vote_key(f"{p}/{q}")


@given(st.sampled_from("ABCDE"), st.sampled_from(["{}", "({})", "{})", "{}.", "{}:", "({}) because"]),
       st.booleans())
def test_choice_letters_agree(letter, shape, lower):
    text = shape.format(letter.lower() if lower else letter)
    assert vote_key(text) == f"choice:{letter}"


@given(st.lists(st.integers(0, 999), min_size=2, max_size=4, unique=True), st.data(), st.booleans())
def test_an_options_text_votes_for_its_letter(values, data, one_per_line):
    """"18" and "C" are one answer to "... C) 18 ...", in either layout the dev sets use;
    a number that is no option keeps its own key."""
    letters = "ABCD"[:len(values)]
    if one_per_line:
        listed = "\n".join(f"({x.lower()}) {v}" for x, v in zip(letters, values, strict=True))
        question = f"Which is the result?\n{listed}\nReply with (a), (b), (c) or (d)."
    else:
        listed = " ".join(f"{x}) {v}" for x, v in zip(letters, values, strict=True))
        question = f"What is the result? {listed}. Answer with the letter."
    i = data.draw(st.integers(0, len(values) - 1))
    for said in (str(values[i]), f"The answer is {values[i]}.", letters[i], f"({letters[i].lower()})"):
        assert vote_key(said, question) == f"choice:{letters[i]}"
    other = data.draw(st.integers(1000, 2000))
    assert vote_key(str(other), question) == str(other)


_WORD = st.text(alphabet=string.ascii_lowercase, min_size=4, max_size=8)


@given(st.lists(_WORD, min_size=1, max_size=4), st.sampled_from(["", ".", "!", "?!", ","]), st.booleans())
def test_free_text_ignores_case_and_punctuation(words, punct, upper):
    text = " ".join(words)
    assume(text.split()[0] not in {"true", "false", "correct", "incorrect"})
    variant = (text.upper() if upper else text.title()) + punct
    assert vote_key(variant) == vote_key(text) == text


@given(st.lists(st.sampled_from(["x = 1", "y = x + 2", "print(y)", "z = x // 2", "s = '#'"]),
                min_size=1, max_size=5),
       st.sampled_from(["", "  # note", "\t# why"]), st.integers(0, 3))
def test_code_ignores_comments_blank_lines_and_spacing(lines, comment, blanks):
    plain = "```python\n" + "\n".join(lines) + "\n```"
    noisy = "```python\n" + ("\n" * blanks) + "\n".join(
        line.replace(" = ", "  =  ") + comment for line in lines) + "\n# trailing\n```"
    assert code_key(noisy) == code_key(plain) == vote_key(plain)


# -- voting properties --------------------------------------------------------------

_ANSWERS = st.lists(st.one_of(st.none(), st.sampled_from(["1", "2", "3", "2.0", "three"])), max_size=12)


@given(_ANSWERS)
def test_tally_counts_every_answered_vote_once(answers):
    buckets = voting.tally((i, a, None) for i, a in enumerate(answers))
    assert sum(b.count for b in buckets) == sum(1 for a in answers if a is not None)
    assert len({b.key for b in buckets}) == len(buckets)
    top = voting.winner(buckets)
    if buckets:
        assert top.count == max(b.count for b in buckets)
        assert top is voting.ranked(buckets)[0]


@given(_ANSWERS, st.randoms())
def test_winner_ignores_vote_order_when_not_tied(answers, rnd):
    votes = [(i, a, None) for i, a in enumerate(answers)]
    before = voting.ranked(voting.tally(votes))
    assume(len(before) < 2 or before[0].count > before[1].count)
    rnd.shuffle(votes)
    after = voting.winner(voting.tally(votes))
    assert (after.key if after else None) == (before[0].key if before else None)


@given(_ANSWERS, st.lists(st.sampled_from(["1", "2", "3", "4"]), max_size=6), st.integers(0, 6))
def test_cannot_be_overtaken_means_the_answer_is_final(answers, future, room):
    votes = [(i, a, None) for i, a in enumerate(answers)]
    first, second = voting.top_two(voting.tally(votes))
    if voting.cannot_be_overtaken(first, second, room):
        now = voting.winner(voting.tally(votes)).key
        later = votes + [(100 + i, a, None) for i, a in enumerate(future[:room])]
        assert voting.winner(voting.tally(later)).key == now


@given(st.integers(0, 40), st.integers(0, 40))
def test_beta_confidence_is_a_probability_symmetric_and_monotone(a, b):
    p = voting.beta_confidence(a, b)
    assert 0.0 < p < 1.0
    assert p + voting.beta_confidence(b, a) == pytest.approx(1.0)
    assert voting.beta_confidence(a + 1, b) > p > voting.beta_confidence(a, b + 1)


@given(st.integers(0, 12), st.integers(0, 12))
def test_dirichlet_over_two_answers_is_the_beta_rule(a, b):
    lead, other = max(a, b), min(a, b)
    assert voting.dirichlet_confidence([lead, other]) == pytest.approx(voting.beta_confidence(lead, other), abs=1e-6)


@given(st.integers(1, 10), st.integers(0, 5), st.integers(1, 5))
def test_a_third_answer_only_lowers_the_dirichlet_confidence(lead, other, third):
    assume(lead >= other >= third)
    assert voting.dirichlet_confidence([lead, other, third]) <= voting.dirichlet_confidence([lead, other]) + 1e-9


@given(st.lists(st.one_of(st.none(), st.sampled_from(["1", "2", "3", "4", "5", "6", "7", "8"])), max_size=16))
def test_futility_fires_exactly_when_enough_answers_and_none_agree(answers):
    buckets = voting.tally((i, a, None) for i, a in enumerate(answers))
    given = [a for a in answers if a is not None]
    assert voting.futile(buckets) == (len(given) >= voting.FUTILE_AFTER and len(set(given)) == len(given))
    if voting.futile(buckets):  # and then the vote is all ties, so the tie-break picks
        assert voting.top_two(buckets) == (1, 1)
