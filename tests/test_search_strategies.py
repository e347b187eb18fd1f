"""best-of-n, refine, beam and mcts, each algorithm checked exactly with the scripted backend."""

from __future__ import annotations

import math

import pytest

from tests.conftest import Reply
from thinkcli import engine
from thinkcli.engine import BudgetExhausted, Budgets, Meter, Request
from thinkcli.events import ListSink, RoundStarted, SampleDone, VerifyDone, VerifyStarted
from thinkcli.strategies.base import Plan, Problem
from thinkcli.strategies.beam import beam
from thinkcli.strategies.best_of_n import best_of_n
from thinkcli.strategies.mcts import Node, search
from thinkcli.strategies.refine import refine
from thinkcli.strategies.stepwise import STEP_STOPS, split_steps
from thinkcli.verify.base import Verdict


class Scripted:
    """A verifier that scores by the candidate's answer (or last step) from a table."""

    def __init__(self, scores: dict[str, float], pass_fail: bool = False, output: str = "") -> None:
        self.scores = scores
        self.pass_fail = pass_fail
        self.output = output
        self.name = "scripted"
        self.seen: list = []

    def key(self, cand) -> str:
        if cand.answer is not None:
            return cand.answer
        steps = split_steps(cand.text)
        return steps[-1] if steps else ""

    def score(self, cand) -> Verdict:
        self.seen.append(cand)
        s = self.scores.get(self.key(cand), 0.0)
        passed = (s >= 1.0) if self.pass_fail else None
        return Verdict(passed, s, detail=f"scored {s}", output=self.output)


def run(strategy, fake, verifier=None, budgets=None, question="q?", **plan):
    sink = ListSink()
    meter = Meter(fake, sink, budgets or Budgets())
    plan = Plan(strategy=strategy.__name__, prompt_style="direct", **plan)
    return strategy(Problem(question), plan, meter, verifier, sink), sink, meter


# -- best-of-n ----------------------------------------------------------------------


def test_best_of_n_stops_at_the_first_passing_sample(fake):
    fake.enqueue("Final answer: 1", "Final answer: 2", "Final answer: 3", "Final answer: 4")
    check = Scripted({"1": 0.3, "2": 1.0, "3": 1.0}, pass_fail=True)
    out, sink, _ = run(best_of_n, fake, check, samples=4)
    assert out.answer == "2" and out.chosen == 1
    assert [c.n for c in fake.calls] == [1, 1]  # drawn one at a time, the third never drawn
    assert [e.sample for e in sink.of(VerifyStarted)] == [0, 1]
    assert [e.verdict.passed for e in sink.of(VerifyDone)] == [False, True]
    assert [(e.sample, e.score) for e in sink.of(SampleDone)] == [(0, 0.3), (1, 1.0)]
    assert "sample 2 of 4 passed scripted; stopped early" in out.notes


def test_best_of_n_without_a_pass_keeps_the_best_score(fake):
    fake.enqueue("Final answer: 1", "Final answer: 2", "Final answer: 3")
    out, _, _ = run(best_of_n, fake, Scripted({"1": 0.2, "2": 0.7, "3": 0.5}, pass_fail=True), samples=3)
    assert out.answer == "2"
    assert len(fake.calls) == 3
    assert "no sample passed scripted" in out.notes


def test_best_of_n_graded_draws_all_together_ties_to_earliest(fake):
    fake.enqueue("Final answer: 1", "Final answer: 2", "Final answer: 3")
    check = Scripted({"1": 0.4, "2": 0.9, "3": 0.9})
    out, sink, _ = run(best_of_n, fake, check, samples=3)
    assert [c.n for c in fake.calls] == [3]
    assert out.answer == "2" and out.chosen == 1
    assert [c.score for c in out.candidates] == [0.4, 0.9, 0.9]
    assert [c.verdict.detail for c in out.candidates] == ["scored 0.4", "scored 0.9", "scored 0.9"]
    assert [e.question for e in check.seen] == ["q?"] * 3


def test_best_of_n_without_verifier_uses_self_certainty(fake):
    fake.enqueue(
        Reply("Final answer: 1", logprobs=[-1.0, -1.0, -1.0]),
        Reply("Final answer: 2", logprobs=[-0.1, -0.1, -0.1]),
        Reply("Final answer: 3", logprobs=[-0.5, -0.5, -0.5]),
    )
    out, sink, _ = run(best_of_n, fake, None, samples=3)
    assert out.answer == "2"
    assert [round(c.score, 4) for c in out.candidates] == [round(math.exp(x), 4) for x in (-1.0, -0.1, -0.5)]
    assert sink.of(VerifyDone)[1].verdict.detail == "certainty 0.90 (mean log-prob -0.10)"
    assert not any("no log-probs" in n for n in out.notes)


def test_best_of_n_self_certainty_without_logprobs_says_so(fake):
    fake.enqueue("Final answer: 1", "Final answer: 2")
    out, sink, _ = run(best_of_n, fake, None, samples=2)
    assert [c.score for c in out.candidates] == [0.5, 0.5]  # neutral, not invented
    assert all("no log-probs" in e.verdict.detail for e in sink.of(VerifyDone))
    assert out.answer == "1"
    assert any("no log-probs from this backend" in n for n in out.notes)


def test_best_of_n_budget_stop_keeps_best_scored_not_majority(fake, monkeypatch):
    fake.enqueue("Final answer: 5", "Final answer: 7", "Final answer: 5",
                 "one two three four five six seven eight nine ten")
    check = Scripted({"5": 0.2, "7": 0.9}, pass_fail=True)
    monkeypatch.setattr(engine, "_verifier_for", lambda request, plan, meter: check)
    from thinkcli import prompts

    per_call = fake.count_tokens(prompts.render("direct", question="q?")) + 3  # prompt + "Final answer: N"
    budget = Budgets(max_total_tokens=3 * per_call + 5)  # the fourth sample is cut after 5 tokens
    request = Request("q?", strategy="best-of-n", samples=4, prompt_style="direct", budgets=budget)
    result = engine.run(request, ListSink(), backend=fake)
    assert result.stopped_by == "tokens"
    assert result.answer == "7"  # a majority of finished samples would have said 5
    assert [c.answer for c in result.candidates] == ["5", "7", "5"]


# -- refine --------------------------------------------------------------------------


def test_refine_keeps_the_best_scored_version_not_the_last(fake):
    fake.enqueue(
        "Final answer: 3",  # draft
        "Step 2 is wrong.",  # critique 1
        "Final answer: 4",  # revision 1
        "Still wrong.",  # critique 2
        "Final answer: 5",  # revision 2
    )
    out, sink, _ = run(refine, fake, Scripted({"3": 0.9, "4": 0.2, "5": 0.5}), rounds=2)
    assert out.answer == "3"
    assert [c.answer for c in out.candidates] == ["3", "4", "5"]
    assert "kept version 1 of 3" in out.notes and "stopped after 2 rounds" in out.notes
    assert [e.name for e in sink.of(RoundStarted)] == ["draft", "critique 1/2", "revise 1/2", "critique 2/2", "revise 2/2"]
    revise = fake.calls[2].messages[-1]["content"]
    assert "Final answer: 3" in revise and "Step 2 is wrong." in revise and "Earlier attempt" not in revise
    second = fake.calls[4].messages[-1]["content"]
    assert "Earlier attempt 1:\nFinal answer: 3\n\nReview of attempt 1:\nStep 2 is wrong." in second
    assert "Previous answer:\nFinal answer: 4\n\nReview of the previous answer:\nStill wrong." in second


def test_refine_feeds_verifier_output_to_the_critique_and_stops_on_pass(fake):
    fake.enqueue("Final answer: 3", "The sum is off by one.", "Final answer: 4", "unused")
    check = Scripted({"3": 0.0, "4": 1.0}, pass_fail=True, output="AssertionError: expected 4, got 3")
    out, _, _ = run(refine, fake, check, rounds=3)
    assert out.answer == "4"
    assert len(fake.calls) == 3  # draft, critique, revision; the pass ends it
    critique = fake.calls[1].messages[-1]["content"]
    assert "AssertionError: expected 4, got 3" in critique
    assert "Its verdict: scored 0.0" in critique
    assert "version 2 passed scripted" in out.notes


def test_refine_stops_when_the_critique_finds_nothing_to_fix(fake):
    fake.enqueue(Reply("Final answer: 3", logprobs=[-0.1] * 3), "NO ISSUES")
    out, _, _ = run(refine, fake, None, rounds=3)
    assert out.answer == "3" and len(fake.calls) == 2
    assert "critique 1 found nothing to fix" in out.notes
    assert "A checker ran" not in fake.calls[1].messages[-1]["content"]  # inverse perplexity is no checker


def test_refine_ignores_no_issues_when_the_verifier_failed(fake):
    fake.enqueue("Final answer: 3", "NO ISSUES", "Final answer: 4")
    out, _, _ = run(refine, fake, Scripted({"4": 1.0}, pass_fail=True), rounds=1)
    assert out.answer == "4" and len(fake.calls) == 3


def test_refine_ties_go_to_the_latest_version(fake):
    fake.enqueue("Final answer: 3", "Wrong.", "Final answer: 4")
    out, _, _ = run(refine, fake, None, rounds=1)  # no log-probs: all neutral
    assert out.answer == "4"
    assert any("no log-probs" in n for n in out.notes)


# -- beam ----------------------------------------------------------------------------


def _partial(call) -> str:
    return call.prompt.split("<assistant>", 1)[1]


def test_beam_keeps_the_top_b_at_each_depth(fake):
    tree = {
        "": ["Step 1: a", "Step 1: b", "Step 1: c", "Step 1: d"],
        "Step 1: a\n\n": ["Final answer: 10", "Step 2: ax"],
        "Step 1: c\n\n": ["Final answer: 30", "Step 2: cx"],
        "Step 1: a\n\nStep 2: ax\n\n": ["Final answer: 11", "Final answer: 12"],
    }
    fake.responder = lambda call, i: tree[_partial(call)][i]
    check = Scripted({"Step 1: a": 0.9, "Step 1: b": 0.2, "Step 1: c": 0.8, "Step 1: d": 0.1,
                      "10": 0.5, "Step 2: ax": 0.95, "30": 0.7, "Step 2: cx": 0.1, "11": 0.6, "12": 0.3})
    out, sink, _ = run(beam, fake, check, beam_width=2, expansions=2, samples=1)
    # depth 1 samples B*E first steps; then each of the B kept beams gets E continuations
    assert [(_partial(c), c.n) for c in fake.calls] == [
        ("", 4), ("Step 1: a\n\n", 2), ("Step 1: c\n\n", 2), ("Step 1: a\n\nStep 2: ax\n\n", 2)]
    assert all(c.kind == "complete" and c.params.stop == STEP_STOPS for c in fake.calls)
    assert out.answer == "30"
    assert [c.answer for c in out.candidates] == ["30", "11", "12"]
    assert [e.name for e in sink.of(RoundStarted)] == [
        "depth 1: 1 beam(s) x 4", "depth 2: 2 beam(s) x 2", "depth 3: 1 beam(s) x 2"]
    assert out.candidates[0].text == "Step 1: c\n\nFinal answer: 30"


def test_beam_ranks_partials_by_self_certainty(fake):
    lp = {"Step 1: a": -2.0, "Step 1: b": -0.1, "Final answer: 1": -0.1, "Final answer: 2": -0.1}
    tree = {"": ["Step 1: a", "Step 1: b"], "Step 1: b\n\n": ["Final answer: 1", "Final answer: 2"]}

    def respond(call, i):
        text = tree[_partial(call)][i]
        return Reply(text, logprobs=[lp[text]] * len(text.split()))

    fake.responder = respond
    out, _, _ = run(beam, fake, None, beam_width=1, expansions=2, samples=1)
    assert [_partial(c) for c in fake.calls] == ["", "Step 1: b\n\n"]  # a was pruned
    assert out.answer == "1"  # equal certainty: the earlier child
    assert out.candidates[0].mean_logprob == pytest.approx(-0.1)


def test_beam_does_not_keep_duplicate_partials(fake):
    tree = {"": ["Step 1: a", "Step 1: a", "Step 1: b", "Step 1: c"],
            "Step 1: a\n\n": ["Final answer: 1", "Final answer: 3"],
            "Step 1: b\n\n": ["Final answer: 2", "Final answer: 4"]}
    fake.responder = lambda call, i: tree[_partial(call)][i]
    check = Scripted({"Step 1: a": 0.9, "Step 1: b": 0.5, "Step 1: c": 0.1, "1": 0.3, "2": 0.8})
    out, _, _ = run(beam, fake, check, beam_width=2, expansions=2, samples=1)
    # the second "Step 1: a" (0.9) loses its place to b (0.5): two beams, two distinct partials
    assert [_partial(c) for c in fake.calls[1:]] == ["Step 1: a\n\n", "Step 1: b\n\n"]
    assert [c.answer for c in out.candidates] == ["2", "1"]


def test_beam_without_raw_completion_continues_in_chat(fake):
    from thinkcli.backends.base import Capabilities

    fake.capabilities = Capabilities(raw_completion=False)
    fake.enqueue("Step 1: 2+2=4", "Final answer: 4")
    out, _, _ = run(beam, fake, Scripted({}), beam_width=1, expansions=1, samples=1)
    assert out.answer == "4"
    assert [c.kind for c in fake.calls] == ["generate", "generate"]
    second = fake.calls[1].messages
    assert second[-2] == {"role": "assistant", "content": "Step 1: 2+2=4"}
    assert "next step" in second[-1]["content"]


def test_beam_budget_stop_returns_the_best_partial(fake):
    fake.responder = lambda call, i: ["Step 1: alpha beta", "Step 1: gamma delta"][i] if not _partial(call) \
        else "one two three four five six seven eight nine ten eleven twelve"
    check = Scripted({"Step 1: alpha beta": 0.2, "Step 1: gamma delta": 0.8})
    from thinkcli.strategies.stepwise import Stepper

    prompt = fake.count_tokens(fake.chat_prompt(Stepper(None, "q?").messages()))
    budget = Budgets(max_total_tokens=2 * (prompt + 4) + 5)  # depth 1 fits, depth 2 is cut
    with pytest.raises(BudgetExhausted) as stop:
        run(beam, fake, check, beam_width=1, expansions=2, samples=1, budgets=budget)
    out = stop.value.outcome
    [chosen] = [c for c in out.candidates if c.sample == out.chosen]
    assert chosen.text == "Step 1: gamma delta" and out.answer == "Step 1: gamma delta"


# -- mcts ----------------------------------------------------------------------------


def _mcts_backend(fake, rollout_for):
    tree = {"": ["Step 1: a", "Step 1: b"], "Step 1: a\n\n": ["Step 2: aa", "Step 2: ab"],
            "Step 1: b\n\n": ["Step 2: ba", "Step 2: bb"]}

    def respond(call, i):
        partial = _partial(call)
        return tree[partial][i] if call.params.stop else rollout_for(partial)

    fake.responder = respond


def test_mcts_visit_counts_and_uct_selection(fake):
    # rollouts under a answer A (value 1), under b answer B (value 0)
    _mcts_backend(fake, lambda p: "Final answer: A" if "Step 1: a" in p else "Final answer: B")
    sink = ListSink()
    meter = Meter(fake, sink, Budgets())
    plan = Plan(strategy="mcts", samples=4, expansions=2)
    root, out = search(Problem("q?"), plan, meter, Scripted({"A": 0.9, "B": 0.0}), sink)
    a, b = root.children
    assert (root.visits, a.visits, b.visits) == (4, 3, 1)
    assert [ch.visits for ch in a.children] == [1, 1] and b.children == []
    assert a.value == pytest.approx(2.7) and b.value == 0.0
    # it1 expands the root and rolls out a; it2 tries unvisited b; it3 UCT picks a
    # (0.9 + 1.18 > 0 + 1.18), expands it and rolls out aa; it4 picks a again, then unvisited ab
    assert [(_partial(c), bool(c.params.stop)) for c in fake.calls] == [
        ("", True), ("Step 1: a\n\n", False), ("Step 1: b\n\n", False),
        ("Step 1: a\n\n", True), ("Step 1: a\n\nStep 2: aa\n\n", False), ("Step 1: a\n\nStep 2: ab\n\n", False)]
    assert out.answer == "A"
    assert [c.answer for c in out.candidates] == ["A", "B", "A", "A"]
    assert "mcts: 4 iteration(s), root children visited [3, 1]" in out.notes
    assert len(sink.of(SampleDone)) == 4


def _explore(fake, c):
    # rollouts worth 0.5, 0.0, 0.3, 0.9 in the order they are drawn
    answers = iter(["Final answer: A1", "Final answer: B1", "Final answer: A2", "Final answer: B2"])
    _mcts_backend(fake, lambda p: next(answers))
    scores = {"A1": 0.5, "B1": 0.0, "A2": 0.3, "B2": 0.9}
    sink = ListSink()
    plan = Plan(strategy="mcts", samples=4, expansions=2, extra={"uct_c": c})
    return search(Problem("q?"), plan, Meter(fake, sink, Budgets()), Scripted(scores), sink)


def test_mcts_exploration_constant_changes_the_search(fake):
    # c = sqrt 2: at iteration 4, a (mean 0.4, 2 visits) scores 1.448 and b (0, 1 visit) 1.482
    root, out = _explore(fake, math.sqrt(2))
    a, b = root.children
    assert (a.visits, b.visits) == (2, 2)
    assert [ch.visits for ch in b.children] == [1, 0]  # b was expanded at iteration 4
    assert out.answer == "B2"  # equal visits: the higher mean wins (b 0.45 vs a 0.4)


def test_mcts_small_exploration_constant_exploits(fake):
    root, out = _explore(fake, 0.1)
    a, b = root.children
    assert (a.visits, b.visits) == (3, 1) and b.children == []
    assert [ch.visits for ch in a.children] == [1, 1]


def test_mcts_stops_at_a_passing_rollout(fake):
    _mcts_backend(fake, lambda p: "Final answer: A" if "Step 1: b" in p else "Final answer: B")
    out, _, _ = run(lambda *a: search(*a)[1], fake, Scripted({"A": 1.0}, pass_fail=True), samples=8, expansions=2)
    assert out.answer == "A"
    assert len(fake.calls) == 3  # expand, rollout a (fails), rollout b (passes)
    assert any("passed scripted; stopped early" in n for n in out.notes)


def test_mcts_without_verifier_or_logprobs_self_evaluates(fake):
    from thinkcli.backends.base import Capabilities

    fake.capabilities = Capabilities(raw_completion=True, logprobs=False)
    _mcts_backend(fake, lambda p: "Final answer: A" if "Step 1: a" in p else "Final answer: B")
    judge_calls = []
    inner = fake.responder

    def respond(call, i):
        if call.prompt.endswith("Score:"):  # the self-evaluation prompt
            judge_calls.append(call.prompt)
            return " 9/10" if "Final answer: A" in call.prompt else " 2/10"
        return inner(call, i)

    fake.responder = respond
    sink = ListSink()
    root, out = search(Problem("q?"), Plan(strategy="mcts", samples=2, expansions=2), Meter(fake, sink, Budgets()), None, sink)
    assert len(judge_calls) == 2 and all("q?" in j for j in judge_calls)
    assert [ch.value for ch in root.children] == [0.9, 0.2]
    assert out.answer == "A"


def test_uct_prefers_unvisited_then_balances_value_and_exploration():
    root = Node(visits=10)
    good = Node("g", root, visits=8, value=6.0)
    rare = Node("r", root, visits=1, value=0.0)
    fresh = Node("f", root)
    root.children = [good, rare, fresh]
    from thinkcli.strategies.mcts import select, uct

    assert select(root).step == "f"
    root.children = [good, rare]
    assert uct(rare, 10) == pytest.approx(math.sqrt(2) * math.sqrt(math.log(10)))
    assert select(root).step == "r"  # 2.146 > 0.75 + 0.759
    assert select(root, c=0.1).step == "g"


def test_beam_checks_finished_beams_with_a_pass_fail_verifier(fake):
    lp = {"Final answer: 1": -0.01, "Final answer: 2": -3.0}
    fake.responder = lambda call, i: Reply(["Final answer: 1", "Final answer: 2"][i],
                                           logprobs=[lp[["Final answer: 1", "Final answer: 2"][i]]] * 3)
    check = Scripted({"2": 1.0}, pass_fail=True)
    out, sink, _ = run(beam, fake, check, beam_width=2, expansions=1, samples=1)
    # partials were ranked by inverse perplexity (1 ahead of 2); the command then passed only 2
    assert [c.answer for c in out.candidates] == ["1", "2"]
    assert [c.verdict.passed for c in out.candidates] == [False, True]
    assert out.answer == "2"
    assert [e.answer for e in check.seen] == ["1", "2"]  # the command never saw a partial


def test_mcts_budget_stop_answers_from_the_tree(fake):
    _mcts_backend(fake, lambda p: "Final answer: A" if "Step 1: a" in p else "one two three four five six seven")
    from thinkcli.strategies.stepwise import Stepper

    prompt = fake.count_tokens(fake.chat_prompt(Stepper(None, "q?").messages()))
    # expansion (2 samples) and the first rollout fit; the second rollout is cut
    budget = Budgets(max_total_tokens=2 * (prompt + 3) + (prompt + 7 + 3) + 4)
    with pytest.raises(BudgetExhausted) as stop:
        run(lambda *a: search(*a)[1], fake, Scripted({"A": 0.9}), samples=4, expansions=2, budgets=budget)
    assert stop.value.outcome.answer == "A"
