"""Spending less on weak traces: DeepConf online, ESC and the futility knob, and --select in the
strategies, exact on the scripted backend (the real decoder's stop is in test_llama_batch.py)."""

from __future__ import annotations

import pytest

from tests.conftest import Reply
from thinkcli import engine
from thinkcli.engine import Request
from thinkcli.events import Generation, ListSink, Notice, SampleStarted


def run(fake, strategy="vote", samples=5, **plan):
    plan.setdefault("round_size", samples)
    plan.setdefault("confidence", 1.0)
    sink = ListSink()
    result = engine.run(Request("q", strategy=strategy, samples=samples, plan_overrides=plan), sink, backend=fake)
    return result, sink


def said(answer: str, conf: float, logprob: float = -0.5) -> Reply:
    """'Final answer: X' (3 tokens) with the same DeepConf confidence on every token."""
    return Reply(f"Final answer: {answer}", [logprob] * 3, confidence=[conf] * 3)


def test_deepconf_online_warm_up_sets_the_threshold_and_stops_weak_samples(fake):
    fake.enqueue(said("7", 5.0), said("7", 3.0),  # warm-up: lowest groups 5 and 3
                 said("9", 4.0), said("7", 6.0), said("9", 4.5))
    result, sink = run(fake, samples=5, online_warmup=2, online_keep=0.5, extra={"group_window": 2})
    assert [c.n for c in fake.calls] == [2, 3]
    assert fake.calls[0].params.confidence_stop is None
    assert fake.calls[1].params.confidence_stop == 5.0  # keep the top half of the warm-up: 5.0
    stopped = [c for c in result.candidates if c.finish_reason == "low-confidence"]
    assert [c.sample for c in stopped] == [2, 4] and all(c.answer is None for c in stopped)
    assert all(c.completion_tokens == 2 for c in stopped)  # cut at the first full window
    assert result.votes == {"7": 3}
    assert "DeepConf online: threshold 5.000 from 2 warm-up samples" in result.notes
    assert "DeepConf online stopped 2 unsure sample(s); they do not vote" in result.notes
    assert (result.plan["online_warmup"], result.plan["online_keep"], result.plan["futility"]) == (2, 0.5, False)
    # the slot a stopped sample gave back went to the next one: every requested sample ran
    assert [e.sample for e in sink.of(SampleStarted)] == [0, 1, 2, 3, 4]
    assert len(sink.of(Generation)) == 5


def test_deepconf_online_without_log_probs_is_off_and_says_so(fake):
    fake.enqueue(*(Reply("Final answer: 1") for _ in range(4)))
    result, _ = run(fake, samples=4, online_warmup=2)
    assert all(c.params.confidence_stop is None for c in fake.calls)
    assert "DeepConf online: off, the backend gave no log-probs" in result.notes


def test_esc_stops_when_a_whole_window_agrees(fake):
    fake.enqueue(*(Reply(f"Final answer: {x}") for x in ["1", "2", "3", "3", "3", "3", "3", "3"]))
    result, _ = run(fake, samples=8, round_size=1, confidence=0.999, esc_window=3)
    assert result.samples_drawn == 5
    assert "stopped after 5 of 8 samples: the last 3 samples agree (ESC)" in result.notes


def test_esc_is_off_unless_the_plan_sets_it(fake):
    fake.enqueue(*(Reply(f"Final answer: {x}") for x in ["1", "2", "3", "3", "3", "1", "2", "1"]))
    result, _ = run(fake, samples=8, round_size=1, confidence=0.999)
    assert result.samples_drawn == 8


def test_select_picks_the_vote_answer_and_reports_weights(fake):
    fake.enqueue(said("4", 1.0), said("5", 9.0), said("4", 1.5))
    result, _ = run(fake, samples=3, select="weighted:deepconf-mean")
    assert (result.answer, result.chosen) == ("5", 1)
    assert result.votes == {"4": 2, "5": 1}  # the counts stay what they are
    assert result.selection == {"rule": "weighted:deepconf-mean", "weights": {"5": 9.0, "4": 2.5}}
    assert result.as_dict()["select"]["weights"]["5"] == 9.0
    assert result.plan["select"] == "weighted:deepconf-mean"


def test_select_without_signals_falls_back_with_one_notice(fake):
    fake.enqueue(*(Reply(f"Final answer: {x}") for x in ["4", "5", "5"]))
    result, sink = run(fake, samples=3, select="best:self-certainty")
    assert result.answer == "5" and result.selection["rule"] == "majority"
    [notice] = sink.of(Notice)
    assert notice.text.startswith("--select best:self-certainty: 3 of 3 answered samples have no self-certainty")


def test_default_vote_reports_majority_weights(fake):
    fake.enqueue(*(Reply(f"Final answer: {x}") for x in ["4", "5", "4"]))
    result, _ = run(fake, samples=3)
    assert result.selection == {"rule": "majority", "weights": {"4": 2.0, "5": 1.0}}


def test_best_of_n_follows_select_without_a_verifier(fake):
    fake.enqueue(said("1", 2.0, -0.1), said("2", 8.0, -3.0), said("3", 1.0, -0.2))
    result, _ = run(fake, strategy="best-of-n", samples=3, select="best:deepconf-lowest-group")
    assert (result.answer, result.chosen) == ("2", 1)
    fake.enqueue(said("1", 2.0, -0.1), said("2", 8.0, -3.0), said("3", 1.0, -0.2))
    plain, _ = run(fake, strategy="best-of-n", samples=3)
    assert (plain.answer, plain.selection["rule"]) == ("1", "best:inverse-perplexity")


def test_auto_final_choice_follows_select(fake):
    fake.enqueue(said("4", 1.0), said("5", 9.0), said("4", 1.0), said("6", 1.0))
    result, _ = run(fake, strategy="auto", samples=4, round_size=2, select="best:deepconf-mean")
    assert result.answer == "5" and result.selection["rule"] == "best:deepconf-mean"


@pytest.mark.parametrize("effort", ["medium", "high"])
def test_presets_keep_drawing_while_no_two_agree(fake, effort):
    # No futility stop by default: "high" asked for up to 16 samples and the answer is uncertain.
    fake.responder = lambda call, i: f"Final answer: {len(fake.calls) * 100 + i}"
    result = engine.run(Request("q", effort=effort), ListSink(), backend=fake)
    assert result.samples_drawn == {"medium": 5, "high": 16}[effort]
