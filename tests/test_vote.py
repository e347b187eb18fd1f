"""`vote` (self-consistency with adaptive stopping): exact runs on the scripted backend,
and the real embedded model through the CLI."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Reply
from thinkcli import engine
from thinkcli.engine import Budgets, Request
from thinkcli.events import ListSink, SampleDone, Vote
from thinkcli.strategies.voting import beta_confidence


def ask(fake, samples, round_size=2, confidence=None, extra=None, plan=None, **kw):
    overrides = {"round_size": round_size, **(plan or {})}
    if confidence is not None:
        overrides["confidence"] = confidence
    if extra is not None:
        overrides["extra"] = extra
    sink = ListSink()
    result = engine.run(Request("q", strategy="vote", samples=samples, plan_overrides=overrides, **kw), sink,
                        backend=fake)
    return result, sink


def answers(*xs):
    return [f"Working it out.\nFinal answer: {x}" for x in xs]


def test_majority_tally_and_confidence(fake):
    fake.enqueue(*answers("12", "7", "12.0"))
    result, sink = ask(fake, samples=3, round_size=3)
    assert result.answer == "12"
    assert result.chosen == 0
    assert result.votes == {"12": 2, "7": 1}
    assert result.confidence == pytest.approx(beta_confidence(2, 1)) == pytest.approx(11 / 16)
    assert [c.n for c in fake.calls] == [3]
    assert "stopped after 3 of 3 samples: drew all 3 samples" in result.notes
    [vote] = sink.of(Vote)
    assert (vote.tally, vote.leader) == ({"12": 2, "7": 1}, "12")


def test_stops_when_the_leader_cannot_be_overtaken(fake):
    # 4 agreeing votes with 1 sample left: even a dissent cannot change the answer.
    fake.enqueue(*answers("12", "12", "12", "12"))
    result, sink = ask(fake, samples=5, confidence=0.999)
    assert [c.n for c in fake.calls] == [2, 2]
    assert result.samples_drawn == 4
    assert result.answer == "12"
    assert any("leader cannot be overtaken by the 1 samples left" in n for n in result.notes)
    assert [v.tally for v in sink.of(Vote)] == [{"12": 2}, {"12": 4}]


def test_stops_when_the_posterior_passes_the_threshold(fake):
    # Beta posterior: (1,1)=0.5, (3,1)=0.8125, (5,1)=0.9375, (7,1)=0.98 >= 0.95 at sample 8.
    fake.enqueue(*answers("12", "7", "12", "12", "12", "12", "12", "12"))
    result, sink = ask(fake, samples=16)
    assert result.samples_drawn == 8
    assert [round(v.confidence, 4) for v in sink.of(Vote)] == [0.5, 0.8125, 0.9375, 0.9805]
    assert result.confidence == pytest.approx(beta_confidence(7, 1))
    assert any("posterior 0.980 >= 0.95" in n for n in result.notes)


def test_lower_threshold_stops_sooner(fake):
    fake.enqueue(*answers("12", "12", "12", "12"))
    result, _ = ask(fake, samples=16, confidence=0.85)
    assert result.samples_drawn == 2  # (2,0) = 0.875


def test_ties_break_by_mean_logprob_not_order(fake):
    fake.enqueue(Reply("Final answer: 3", [-2.0, -2.0, -2.0]), Reply("Final answer: 5", [-0.1, -0.2, -0.3]))
    result, _ = ask(fake, samples=2)
    assert result.votes == {"5": 1, "3": 1}
    assert result.answer == "5"
    assert result.chosen == 1


def test_ties_without_logprobs_go_to_the_earliest(fake):
    fake.enqueue(*answers("3", "5"))
    result, _ = ask(fake, samples=2)
    assert result.answer == "3"


def test_winner_is_the_most_confident_voter_of_the_majority(fake):
    fake.enqueue(Reply("so\nFinal answer: 9", [-3.0] * 4), Reply("hence\nFinal answer: 9.0", [-0.5] * 4),
                 Reply("Final answer: 4", [-0.1] * 3))
    result, _ = ask(fake, samples=3, round_size=3)
    assert result.chosen == 1
    assert result.answer == "9.0"


def test_a_marked_answer_speaks_for_its_bucket(fake):
    fake.enqueue(Reply("6 * 7 = 42\n\nJustification:", [-0.1] * 6), Reply("So\nFinal answer: 42", [-0.9] * 3),
                 Reply("Final answer: 7", [-0.2] * 3))
    result, _ = ask(fake, samples=3, round_size=3)
    assert result.votes == {"42": 2, "7": 1}
    assert (result.chosen, result.answer) == (1, "42")


def test_samples_without_an_answer_do_not_vote(fake):
    fake.enqueue("", "Final answer: 8", "", "Final answer: 8")
    result, _ = ask(fake, samples=4, round_size=4)
    assert result.votes == {"8": 2}
    assert result.samples_drawn == 4
    assert result.answer == "8"


def test_no_answers_at_all(fake):
    fake.enqueue("", "")
    result, _ = ask(fake, samples=2)
    assert result.answer is None
    assert "no sample gave an answer to vote on" in result.notes


def test_each_sample_gets_a_distinct_derived_seed(fake):
    fake.enqueue(*answers("1", "2", "1", "2", "1", "2"))
    ask(fake, samples=6, seed=100)
    # The Meter offsets each call by its first run-wide index; the backend adds the index within it.
    assert [c.params.seed for c in fake.calls] == [100, 102, 104]
    assert all(c.params.temperature == 0.7 for c in fake.calls)


def test_futility_stops_when_no_two_answers_agree(fake):
    # A plan knob (a profile switches it on): four answers, all different: the vote gives up.
    fake.enqueue(Reply("Final answer: 3", [-2.0] * 3), Reply("Final answer: 5", [-1.0] * 3),
                 Reply("Final answer: 7", [-0.2] * 3), Reply("Final answer: 9", [-0.9] * 3), *answers("3", "3"))
    result, _ = ask(fake, samples=8, plan={"futility": True})
    assert result.samples_drawn == 4
    assert result.votes == {"3": 1, "5": 1, "7": 1, "9": 1}
    assert (result.answer, result.chosen) == ("7", 2)  # the highest mean log-probability
    assert "stopped after 4 of 8 samples: no two of 4 answers agree; the tie-break picks" in result.notes


def test_futility_counts_only_answered_samples(fake):
    # Samples without an answer are not disagreement: 3 distinct answers out of 4 samples go on.
    fake.enqueue("", *answers("1", "2", "3", "2", "2"))
    result, _ = ask(fake, samples=6, plan={"futility": True})
    assert result.samples_drawn == 6
    assert result.answer == "2"


def test_one_agreement_keeps_the_vote_going(fake):
    fake.enqueue(*answers("1", "2", "1", "3", "4", "1"))
    result, _ = ask(fake, samples=6)
    assert result.samples_drawn == 6
    assert result.votes == {"1": 3, "2": 1, "3": 1, "4": 1}


@pytest.mark.parametrize("how", [{}, {"extra": {"futility": False}},
                                 {"confidence": 1.0, "plan": {"futility": True}}])
def test_without_the_futility_knob_a_scattered_vote_keeps_drawing(fake, how):
    # What --effort high asks for: up to its budget while no answer leads.
    fake.enqueue(*answers("1", "2", "3", "4", "5", "6"))
    result, _ = ask(fake, samples=6, **how)
    assert result.samples_drawn == 6
    assert "stopped after 6 of 6 samples: drew all 6 samples" in result.notes


def test_small_models_vote_at_a_lower_confidence(fake):
    # The preset's confidence for a small local model is 0.8: two agreeing samples (0.875) settle it.
    from thinkcli.strategies import SMALL_MODEL_CONFIDENCE, plan_for

    assert plan_for("medium", "smollm2-135m-instruct").confidence == SMALL_MODEL_CONFIDENCE == 0.8
    assert plan_for("medium", "gpt-4o").confidence == 0.95
    assert plan_for("medium", "smollm2-135m-instruct", confidence=0.99).confidence == 0.99
    fake.model = "smollm2-135m-instruct"
    fake.enqueue(*answers("4", "4", "4", "4"))
    result = engine.run(Request("q", effort="medium"), ListSink(), backend=fake)
    assert result.samples_drawn == 2
    assert result.plan["confidence"] == 0.8


def test_answers_are_announced_as_samples_finish(fake):
    fake.enqueue(*answers("1", "1"))
    _, sink = ask(fake, samples=2)
    assert [(d.sample, d.answer) for d in sink.of(SampleDone)] == [(0, "1"), (1, "1")]
    first_vote = sink.events.index(sink.of(Vote)[0])
    assert all(sink.events.index(d) < first_vote for d in sink.of(SampleDone))


def test_token_budget_stops_the_vote_and_keeps_its_majority(fake):
    # Round 1 is a tie that log-probs break for "5"; round 2 runs out of tokens.
    first = [Reply("Final answer: 3", [-2.0] * 3), Reply("Final answer: 5", [-0.1] * 3)]
    probe = type(fake)()
    probe.enqueue(*first)
    spent = ask(probe, samples=2)[0].usage.total_tokens
    fake.enqueue(*first, *answers("3", "3"))
    result, _ = ask(fake, samples=6, budgets=Budgets(max_total_tokens=spent + 2))
    assert result.stopped_by == "tokens"
    assert result.answer == "5"  # the engine's generic fallback would pick the earliest, "3"
    assert result.votes == {"5": 1, "3": 1}
    assert any("stopped by tokens budget after 2 samples" in n for n in result.notes)


def test_interrupt_keeps_the_votes_so_far(fake):
    fake.enqueue(*answers("4", "4"))

    def interrupt(call, i):
        raise KeyboardInterrupt

    fake.responder = interrupt
    result, _ = ask(fake, samples=6)
    assert result.interrupted
    assert result.answer == "4"
    assert result.votes == {"4": 2}


def test_effort_medium_is_an_adaptive_vote_of_up_to_five(fake):
    fake.enqueue(*answers("2", "2", "2", "2"))
    result = engine.run(Request("q", effort="medium"), ListSink(), backend=fake)
    assert result.strategy == "vote"
    assert result.plan["samples"] == 5
    assert result.samples_drawn == 4


def test_strategy_flag_without_samples_gets_a_real_vote(fake):
    fake.enqueue(*answers("2", "3", "2", "3", "2"))
    result = engine.run(Request("q", strategy="vote"), ListSink(), backend=fake)
    assert result.plan["samples"] == 5
    assert result.samples_drawn == 5


@pytest.mark.model
def test_vote_on_the_embedded_model(think, embedded_model):
    proc = think("--strategy", "vote", "-n", "3", "--max-tokens", "24", "--seed", "7", "--json", "What is 2 + 2?")
    assert proc.returncode == 0, proc.stderr.decode()
    doc = json.loads(proc.stdout)
    assert doc["strategy"] == "vote"
    assert 2 <= len(doc["samples"]) <= 3
    assert doc["votes"] and sum(doc["votes"].values()) <= len(doc["samples"])
    assert 0.5 <= doc["confidence"] <= 1.0
    assert any(n.startswith("stopped after") for n in doc["notes"])
    assert doc["answer"] in [s["answer"] for s in doc["samples"]]
    assert doc["plan"]["confidence"] == 0.8  # the small-model preset


@pytest.mark.model
def test_a_real_vote_stops_at_the_first_round_its_rule_allows(think, embedded_model):
    # A hard product at a high temperature: the model's answers scatter. Whatever it says, the
    # run must stop at the first round whose samples meet a stop rule (judged by the same rule
    # on the samples it returned), and give that rule as its reason.
    from thinkcli.strategies.base import Candidate
    from thinkcli.strategies.vote import Ballot

    proc = think("--strategy", "vote", "-n", "8", "--max-tokens", "24", "--seed", "1", "-t", "1.2", "--json",
                 "What is 37 * 23?")
    assert proc.returncode == 0, proc.stderr.decode()
    doc = json.loads(proc.stdout)
    cands = [Candidate(s["index"], s["text"], s["answer"], s["completion_tokens"],
                       mean_logprob=s.get("mean_logprob")) for s in doc["samples"]]
    drawn = len(cands)
    reasons = [Ballot(candidates=cands[:k], drawn=k).stop_reason(8, doc["plan"]["confidence"])
               for k in range(2, drawn + 1, 2)]
    assert all(r is None for r in reasons[:-1]) and reasons[-1] is not None, (reasons, doc["votes"])
    assert f"stopped after {drawn} of 8 samples: {reasons[-1]}" in doc["notes"]


@pytest.mark.model
def test_seeded_samples_differ_but_runs_reproduce(think, embedded_model):
    args = ("--strategy", "vote", "-n", "2", "--max-tokens", "16", "-t", "1.0", "--seed", "3", "--json",
            "Write one sentence about a cat.")
    first, second = think(*args), think(*args)
    assert first.returncode == 0 and second.returncode == 0, first.stderr.decode()
    a, b = json.loads(first.stdout), json.loads(second.stdout)
    texts = [s["text"] for s in a["samples"]]
    assert len(texts) == 2 and texts[0] != texts[1]
    assert texts == [s["text"] for s in b["samples"]]


@pytest.mark.model
@pytest.mark.parametrize(("flag", "value", "budget"), [("--max-total-tokens", "260", "tokens"),
                                                        ("--time-limit", "1", "time")])
def test_budgets_stop_a_real_vote_and_keep_an_answer(think, embedded_model, flag, value, budget):
    # --confidence 1: no posterior or futility stop, so only a budget (or unanimity) ends the vote early
    proc = think("--strategy", "vote", "-n", "16", "--max-tokens", "64", "--seed", "2", "--threads", "1",
                 "--confidence", "1", flag, value, "--json", "What is 9 + 6?")
    assert proc.returncode == 0, proc.stderr.decode()
    doc = json.loads(proc.stdout)
    assert doc["stopped_by"] == budget
    assert doc["answer"]
    assert len(doc["samples"]) < 16
    assert f"stopped by {budget} budget" in proc.stderr.decode()
    if budget == "tokens":
        assert doc["usage"]["total_tokens"] <= 260 + 64  # at most the sample in flight runs over


def test_votes_read_answers_against_the_question(fake):
    # Sentences that restate a yes/no question vote as what they say; without the question
    # "27 is not an even number" would vote as the number 27 and outvote the two plain "No"s' meaning.
    fake.enqueue("Final answer: 27 is not an even number.", "Final answer: Yes", "Final answer: No, it is odd.",
                 "Final answer: 27 is an odd number, not even.")
    sink = ListSink()
    result = engine.run(Request("Is 27 an even number? Answer yes or no.", strategy="vote", samples=4,
                                plan_overrides={"round_size": 4, "confidence": 1.0}), sink, backend=fake)
    assert result.votes == {"no": 3, "yes": 1}
    assert result.answer == "27 is not an even number"
    assert [d.key for d in sink.of(SampleDone)] == ["no", "yes", "no", "no"]


def test_a_restated_question_does_not_vote(fake):
    # "Ines shares 6 books among 2 friends" repeats the question's numbers: it abstains, and
    # the one reply that computed something new wins instead of the echoed 2.
    q = "Ines shares 6 books equally among 2 friends. How many books does each friend get?"
    fake.enqueue("Final answer: Ines shares 6 books equally among 2 friends.",
                 "Final answer: Ines shares 6 books among 2 friends.", "Final answer: 6 / 2 = 3 books each")
    result = engine.run(Request(q, strategy="vote", samples=3, plan_overrides={"round_size": 3, "confidence": 1.0}),
                        ListSink(), backend=fake)
    assert result.votes == {"3": 1}
    assert result.answer == "6 / 2 = 3 books each"
