"""s1 budget forcing with the scripted backend: "Wait" below the minimum, the answer forced at the maximum."""

from __future__ import annotations

import pytest

from thinkcli import engine
from thinkcli.backends.base import Capabilities
from thinkcli.engine import Budgets, Meter, Request
from thinkcli.errors import ExitStatus, ThinkError, UsageError
from thinkcli.events import ListSink, RoundStarted, SampleDone
from thinkcli.strategies.base import Plan, Problem
from thinkcli.strategies.budget import END_THINKING, budget


def run(fake, **plan):
    sink = ListSink()
    meter = Meter(fake, sink, Budgets())
    out = budget(Problem("What is 2+2?"), Plan(strategy="budget", **plan), meter, None, sink)
    return out, sink, meter


def test_below_the_minimum_the_end_of_thinking_becomes_wait(fake):
    fake.enqueue("two plus two is four", ", let me check again: four", " 4")
    out, sink, meter = run(fake, think_min=8, think_max=50)
    base = fake.chat_prompt(Problem("What is 2+2?").messages("steps"))
    think1, think2, answer = fake.calls
    assert think1.prompt == base and think1.params.stop == END_THINKING and think1.params.max_tokens == 50
    # 5 tokens < 8: the stop is suppressed, "Wait" appended, the same text continued
    assert think2.prompt == base + "two plus two is four\nWait"
    assert think2.params.max_tokens == 50 - 6
    assert answer.prompt == base + "two plus two is four\nWait, let me check again: four\nFinal answer:"
    assert answer.params.stop == ()
    assert out.answer == "4"
    assert [e.name for e in sink.of(RoundStarted)] == ["Wait 1: 5 of at least 8 thinking tokens", "answer"]
    assert "thinking 11 tokens (min 8, max 50); 1 Wait(s)" in out.notes
    assert meter.usage.reasoning_tokens == 11
    [done] = sink.of(SampleDone)
    assert done.answer == "4" and done.usage.completion_tokens == 5 + 6 + 2


def test_wait_repeats_until_the_minimum(fake):
    fake.enqueue("four", ", four", ", four", "4")
    out, sink, _ = run(fake, think_min=5, think_max=50)
    # "four" (1) -> +Wait four (3) -> +Wait four (5): three thinking calls, two Waits
    assert [c.prompt.count("Wait") for c in fake.calls] == [0, 1, 2, 2]
    assert "thinking 5 tokens (min 5, max 50); 2 Wait(s)" in out.notes


def test_at_the_maximum_thinking_is_cut_and_the_answer_forced(fake):
    fake.enqueue("a b c d e f g h i j", "7")
    out, sink, _ = run(fake, think_min=0, think_max=6)
    think, answer = fake.calls
    assert think.params.max_tokens == 6
    assert answer.prompt.endswith("<assistant>a b c d e f\nFinal answer:")
    assert out.answer == "7"
    assert out.candidates[0].text.endswith("a b c d e f\nFinal answer:7")
    assert any("cut at the maximum and the answer forced" in n for n in out.notes)
    assert [e.name for e in sink.of(RoundStarted)] == ["answer (forced at the maximum)"]


def test_enough_thinking_ends_naturally_without_wait(fake):
    fake.enqueue("I add two and two and get four", " 4")
    out, _, _ = run(fake, think_min=3, think_max=100)
    assert len(fake.calls) == 2 and "Wait" not in fake.calls[1].prompt
    assert "thinking 8 tokens (min 3, max 100); 0 Wait(s)" in out.notes


def test_a_model_that_will_not_continue_does_not_loop(fake):
    fake.enqueue("hm", "", "4")
    out, _, _ = run(fake, think_min=100, think_max=200)
    assert len(fake.calls) == 3
    assert "the model would not continue after Wait" in out.notes


def test_backend_without_raw_continuation_is_a_clear_error(fake):
    fake.capabilities = Capabilities(raw_completion=False)
    with pytest.raises(ThinkError) as err:
        engine.run(Request("2+2?", strategy="budget"), ListSink(), backend=fake)
    assert err.value.status == ExitStatus.ERROR
    assert "needs raw text continuation" in err.value.message and "fake-model" in err.value.message
    assert fake.calls == []


def test_minimum_above_maximum_is_a_usage_error(fake):
    with pytest.raises(UsageError, match="--think-min 60 is above --think-max 50"):
        engine.run(Request("2+2?", strategy="budget", plan_overrides={"think_min": 60, "think_max": 50}),
                   ListSink(), backend=fake)


def test_budget_stop_keeps_the_thinking_so_far(fake):
    fake.enqueue("so far the answer is 12.", "more more more more more more more more more more")
    prompt = fake.count_tokens(fake.chat_prompt(Problem("q").messages("steps")))
    request = Request("q", strategy="budget", plan_overrides={"think_min": 50, "think_max": 100},
                      budgets=Budgets(max_total_tokens=prompt + 7 + 3))
    result = engine.run(request, ListSink(), backend=fake)
    assert result.stopped_by == "tokens"
    assert result.answer == "12"
    assert result.candidates[0].finish_reason == "cancelled"
