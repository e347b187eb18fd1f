"""`auto` (adaptive compute) and the verifier escalation of `--effort high`: exact paths on
the scripted backend, and the real embedded model through the CLI."""

from __future__ import annotations

import json

import pytest

from thinkcli import engine
from thinkcli.engine import Budgets, Meter, Request
from thinkcli.events import ListSink, RoundStarted, VerifyDone
from thinkcli.strategies.auto import auto
from thinkcli.strategies.base import Plan, Problem
from thinkcli.strategies.vote import vote
from thinkcli.strategies.voting import beta_confidence
from thinkcli.verify.base import Verdict


class ByAnswer:
    """A verifier that looks the candidate's answer up in a table."""

    def __init__(self, scores: dict[str, float], pass_fail: bool) -> None:
        self.scores, self.pass_fail, self.name = scores, pass_fail, "table"
        self.seen: list[str | None] = []

    def score(self, cand) -> Verdict:
        self.seen.append(cand.answer)
        s = self.scores.get(cand.answer or "", 0.0)
        return Verdict((s >= 1.0) if self.pass_fail else None, s, detail=f"score {s}")


def run(strategy, fake, verifier=None, budgets=None, **plan):
    sink = ListSink()
    meter = Meter(fake, sink, budgets or Budgets())
    plan = Plan(strategy=strategy.__name__, prompt_style="direct", **plan)
    return strategy(Problem("q?"), plan, meter, verifier, sink), sink


def finals(*xs):
    return [f"Final answer: {x}" for x in xs]


def path(sink):
    return [e.name for e in sink.of(RoundStarted)]


def test_agreeing_probe_answers_at_once(fake):
    fake.enqueue(*finals("6", "6.0"))
    out, sink = run(auto, fake, samples=8)
    assert out.answer == "6"
    assert [c.n for c in fake.calls] == [2]
    assert path(sink) == ["probe ×2"]
    assert out.confidence == pytest.approx(beta_confidence(2, 0))
    assert "the 2 probe samples agree; stopped" in out.notes


def test_probe_size_is_a_plan_knob(fake):
    fake.enqueue(*finals("6", "6", "7", "6", "6"))
    out, sink = run(auto, fake, samples=5, extra={"probe": 3})
    assert [c.n for c in fake.calls] == [3, 2]
    assert path(sink) == ["probe ×3", "vote ≤5"]


def test_greedy_probe_asks_the_greedy_reply_first_and_stops_when_a_sample_agrees(fake):
    fake.enqueue(*finals("6", "6"))
    out, sink = run(auto, fake, samples=8, temperature=0.4, extra={"probe_greedy": True})
    assert [(c.n, c.params.temperature) for c in fake.calls] == [(1, 0.0), (1, 0.4)]
    assert path(sink) == ["probe: greedy + 1"] and out.answer == "6"
    assert out.notes[:2] == ["probe: 2 samples, the first greedy", "the 2 probe samples agree; stopped"]


def test_greedy_probe_that_disagrees_votes_on_with_the_greedy_reply_counted(fake):
    # greedy 7, the sample 8: unsure; one round of 2 at 0.8 and 7 leads 3-1 (0.81 >= 0.8)
    fake.enqueue(*finals("7", "8", "7", "7"))
    out, sink = run(auto, fake, samples=8, temperature=0.4, confidence=0.8, round_size=2,
                    extra={"probe_greedy": True})
    assert [(c.n, c.params.temperature) for c in fake.calls] == [(1, 0.0), (1, 0.4), (2, 0.4)]
    assert path(sink) == ["probe: greedy + 1", "vote ≤8"]
    assert out.answer == "7" and out.votes == {"7": 3, "8": 1}


def test_disagreement_escalates_to_an_adaptive_vote(fake):
    # after 2: (1,1); 4: (3,1) = 0.81; 6: (5,1) = 0.94; 8: (7,1) = 0.98 >= 0.95
    fake.enqueue(*finals("1", "2", "1", "1", "1", "1", "1", "1"))
    out, sink = run(auto, fake, samples=16)
    assert path(sink) == ["probe ×2", "vote ≤16"]
    assert [c.n for c in fake.calls] == [2, 2, 2, 2]
    assert out.answer == "1" and out.votes == {"1": 7, "2": 1}
    assert any(n.startswith("vote: stopped after 8 of 16 samples: leader's posterior 0.980") for n in out.notes)


def test_without_verifier_low_confidence_keeps_the_majority(fake):
    fake.enqueue(*finals("1", "2", "3", "1", "2", "3", "1", "4"))
    out, sink = run(auto, fake, samples=8)
    assert out.answer == "1" and out.votes == {"1": 3, "2": 2, "3": 2, "4": 1}
    assert out.candidates and len(out.candidates) == 8
    assert path(sink) == ["probe ×2", "vote ≤8"]
    assert not sink.of(VerifyDone)


def test_pass_fail_verifier_checks_the_leaders_in_vote_order(fake):
    fake.enqueue(*finals("41", "42", "41"))
    check = ByAnswer({"42": 1.0}, pass_fail=True)
    out, sink = run(auto, fake, check, samples=3)
    assert path(sink) == ["probe ×2", "vote ≤3", "verify"]
    assert check.seen == ["41", "42"]
    assert out.answer == "42" and out.chosen == 1
    assert out.votes == {"41": 2, "42": 1}  # the tally stays what the vote saw
    assert "verify: '42' passed table" in out.notes


def test_graded_verifier_reweights_the_vote(fake):
    fake.enqueue(*finals("41", "42", "41"))
    out, sink = run(auto, fake, ByAnswer({"41": 0.2, "42": 0.9}, pass_fail=False), samples=3)
    assert out.answer == "42"  # 1 x 0.9 beats 2 x 0.2
    assert len(sink.of(VerifyDone)) == 2


def test_nothing_passes_escalates_to_best_of_n_then_refine_and_keeps_the_vote(fake):
    fake.enqueue(*finals("41", "42", "41"))
    fake.responder = lambda call, i: "Final answer: 40"
    check = ByAnswer({}, pass_fail=True)
    out, sink = run(auto, fake, check, samples=3, extra={"verify_samples": 2}, rounds=1)
    assert path(sink)[:4] == ["probe ×2", "vote ≤3", "verify", "best-of-n"]
    assert "refine" in path(sink)[4:]
    assert out.answer == "41"
    assert out.notes[-1] == "no candidate passed table; keeping the vote's answer"
    assert len(out.candidates) > 3  # the escalation's samples are reported too


def test_escalation_finds_a_passing_sample(fake):
    fake.enqueue(*finals("41", "42", "41"), *finals("43", "44"))
    out, sink = run(auto, fake, ByAnswer({"44": 1.0}, pass_fail=True), samples=3,
                    extra={"verify_samples": 3})
    assert path(sink) == ["probe ×2", "vote ≤3", "verify", "best-of-n"]
    assert out.answer == "44"
    assert "best-of-n: '44' passed table" in out.notes


def test_effort_high_votes_then_verifies(fake):
    fake.enqueue(*finals("5", "6", "5", "6"))
    check = ByAnswer({"6": 1.0}, pass_fail=True)
    out, sink = run(vote, fake, check, samples=4, round_size=4, then="best-of-n")
    assert path(sink) == ["verify"]
    assert check.seen == ["5", "6"]
    assert out.answer == "6"


def test_vote_without_verifier_ignores_then(fake):
    fake.enqueue(*finals("5", "6", "5", "6"))
    out, sink = run(vote, fake, None, samples=4, round_size=4, then="best-of-n")
    assert path(sink) == [] and out.answer == "5"


def test_budget_stops_auto_and_keeps_the_majority(fake):
    fake.enqueue(*finals("9", "8", "9"), *finals("8", "8"))
    probe = type(fake)()
    probe.enqueue(*finals("9", "8", "9"))
    spent = engine.run(Request("q", strategy="auto", samples=3), ListSink(), backend=probe).usage.total_tokens
    result = engine.run(Request("q", strategy="auto", samples=8, budgets=Budgets(max_total_tokens=spent + 1)),
                        ListSink(), backend=fake)
    assert result.stopped_by == "tokens"
    assert result.answer == "9"
    assert result.votes == {"9": 2, "8": 1}
    assert any("stopped by tokens budget" in n for n in result.notes)


def test_effort_auto_is_the_auto_strategy(fake):
    fake.enqueue(*finals("3", "3", "3"))
    result = engine.run(Request("q", effort="auto"), ListSink(), backend=fake)
    assert result.strategy == "auto"
    assert result.plan["samples"] == 8
    assert result.samples_drawn == 2


@pytest.mark.model
def test_auto_on_the_embedded_model(think, embedded_model):
    proc = think("--effort", "auto", "--max-tokens", "24", "--seed", "1", "--json", "What is 3 + 4?")
    assert proc.returncode == 0, proc.stderr.decode()
    doc = json.loads(proc.stdout)
    assert doc["strategy"] == "auto"
    # the shipped profile's auto: the probe (greedy-first where the profile says so), then up to its samples
    greedy = doc["plan"].get("probe_greedy", False)
    assert doc["notes"][0] == "probe: 2 samples" + (", the first greedy" if greedy else "")
    assert 2 <= len(doc["samples"]) <= doc["plan"]["samples"]
    assert doc["answer"] in [s["answer"] for s in doc["samples"]]


def test_readme_presets_table_matches_the_code():
    import re

    from tests.conftest import ROOT
    from thinkcli.strategies import EFFORTS

    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(low|medium|high|auto)`[^|]*\| ([^|]+)\| (\d+) \|", text, re.MULTILINE)
    assert {name for name, _, _ in rows} == set(EFFORTS)
    for name, strategy, samples in rows:
        assert f"`{EFFORTS[name]['strategy']}`" in strategy
        assert int(samples) == EFFORTS[name]["samples"]
