"""Selection rules, exact on scripted candidates (thinkcli/select.py)."""

from __future__ import annotations

import doctest
import math
from dataclasses import dataclass, field

import pytest

from thinkcli import select as sel
from thinkcli.answers import vote_key
from thinkcli.errors import UsageError


@dataclass
class C:
    answer: str | None
    signals: dict[str, float] = field(default_factory=dict)


def sc(*pairs):
    """Candidates from (answer, self-certainty) pairs."""
    return [C(a, {} if s is None else {"self-certainty": s}) for a, s in pairs]


# 5 samples: "4" is the majority (3 votes, all unsure); "5" has two very sure votes.
FIVE = sc(("4", 1.0), ("5", 4.0), ("4", 0.5), ("5", 3.0), ("4", 2.0))


def test_majority_counts_votes_and_names_the_first_voter():
    s = sel.select("majority", FIVE)
    assert (s.answer, s.index, s.weights, s.rule, s.fallback) == ("4", 0, {"4": 3.0, "5": 2.0}, "majority", None)


def test_weighted_sums_the_signal_per_answer():
    s = sel.select("weighted:self-certainty", FIVE)
    assert s.weights == {"5": 7.0, "4": 3.5}
    assert (s.answer, s.index) == ("5", 1)  # the surest "5" speaks for it


def test_weighted_by_mean_logprob_weighs_by_its_exponential():
    cands = [C("a", {"mean-logprob": math.log(0.2)}), C("b", {"mean-logprob": math.log(0.3)}),
             C("a", {"mean-logprob": math.log(0.2)})]
    s = sel.select("weighted:mean-logprob", cands)
    assert s.answer == "a" and s.weights["a"] == pytest.approx(0.4) and s.weights["b"] == pytest.approx(0.3)


def test_filtered_keeps_the_top_fraction_then_votes_weighted():
    # keep 0.6 of 5 -> 3 samples: 5 (4.0), 5 (3.0), 4 (2.0)
    s = sel.select("filtered:self-certainty:0.6", FIVE)
    assert s.weights == {"5": 7.0, "4": 2.0}
    assert (s.answer, s.index, s.rule) == ("5", 1, "filtered:self-certainty:0.6")
    # keep everything: the weighted vote
    assert sel.select("filtered:self-certainty:1", FIVE).weights == sel.select("weighted:self-certainty", FIVE).weights
    # the default keeps 90%: ceil(4.5) = 5 of 5
    assert sel.select("filtered:self-certainty", FIVE).weights == {"5": 7.0, "4": 3.5}


def test_filtered_keeps_at_least_one():
    s = sel.select("filtered:self-certainty:0.01", FIVE)
    assert (s.answer, s.index, s.weights) == ("5", 1, {"5": 4.0})


def test_best_picks_the_single_surest_sample():
    s = sel.select("best:self-certainty", FIVE)
    assert (s.answer, s.index) == ("5", 1)
    assert s.weights == {"5": 4.0, "4": 2.0}  # each answer's best sample


def test_borda_by_rank_with_power():
    # ranks by self-certainty: 1:(5,4.0) 2:(5,3.0) 3:(4,2.0) 4:(4,1.0) 5:(4,0.5); N=5, votes N-r+1
    s = sel.select("borda:self-certainty:1", FIVE)
    assert s.weights == {"5": 9.0, "4": 6.0}
    s = sel.select("borda:self-certainty:0", FIVE)  # p = 0: every rank votes 1, i.e. majority
    assert (s.answer, s.weights) == ("4", {"4": 3.0, "5": 2.0})
    s = sel.select("borda:self-certainty", FIVE)  # default p = 0.5
    assert s.weights["5"] == pytest.approx(math.sqrt(5) + 2)
    assert s.weights["4"] == pytest.approx(math.sqrt(3) + math.sqrt(2) + 1)


def test_ties_go_to_the_earliest_first_vote():
    cands = sc(("9", 1.0), ("3", 1.0))
    assert sel.select("majority", cands).answer == "9"
    assert sel.select("weighted:self-certainty", list(reversed(cands))).answer == "3"
    assert sel.select("best:self-certainty", cands).index == 0


def test_unanswered_samples_do_not_vote_and_nobody_answering_selects_nothing():
    cands = sc((None, 9.0), ("2", 0.1))
    s = sel.select("best:self-certainty", cands)
    assert (s.answer, s.index) == ("2", 1)
    s = sel.select("weighted:self-certainty", sc((None, 1.0), (None, 2.0)))
    assert (s.answer, s.index, s.weights) == (None, None, {})


def test_missing_signal_falls_back_to_majority_and_says_why():
    cands = [C("1", {"self-certainty": 9.0}), C("2", {}), C("2", {})]
    s = sel.select("best:self-certainty", cands)
    assert (s.answer, s.rule) == ("2", "majority")
    assert s.fallback and "self-certainty" in s.fallback and "2 of 3" in s.fallback


def test_key_maps_raw_answers_to_vote_keys():
    cands = sc(("12 apples", 1.0), ("twelve", 1.0), ("13", 1.5))
    s = sel.select("weighted:self-certainty", cands, key=vote_key)
    assert (s.answer, s.weights) == ("12", {"12": 2.0, "13": 1.5})


def test_params_override_the_spec():
    assert sel.select("filtered:self-certainty", FIVE, keep=0.2).weights == {"5": 4.0}
    assert sel.select("borda:self-certainty", FIVE, power=1.0).weights == {"5": 9.0, "4": 6.0}


@pytest.mark.parametrize("spec, fragment", [
    ("", "unknown --select rule"),
    ("vote", "unknown --select rule"),
    ("weighted", "needs a signal"),
    ("best:perplexity", "unknown signal 'perplexity'"),
    ("majority:self-certainty", "takes no signal"),
    ("filtered:self-certainty:0", "keep fraction"),
    ("filtered:self-certainty:x", "keep fraction"),
    ("best:self-certainty:2", "only filtered and borda"),
    ("borda:self-certainty:-1", "Borda exponent"),
])
def test_bad_specs_are_one_line_usage_errors(spec, fragment):
    with pytest.raises(UsageError) as err:
        sel.parse_rule(spec)
    assert fragment in err.value.message and "\n" not in err.value.message


def test_specs_round_trip():
    for spec in ["majority", "weighted:deepconf-mean", "filtered:deepconf-lowest-group:0.1",
                 "best:inverse-perplexity", "borda:self-certainty", "borda:deepconf-bottom-10:1"]:
        assert str(sel.parse_rule(spec)) == spec
    assert str(sel.parse_rule(" Weighted:Self-Certainty ")) == "weighted:self-certainty"


def test_doctests():
    assert doctest.testmod(sel).failed == 0
