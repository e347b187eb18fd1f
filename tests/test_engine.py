"""The engine with the scripted backend: plans, events, budgets, interruption."""

from __future__ import annotations

import pytest

from thinkcli import engine
from thinkcli.engine import Budgets, Request
from thinkcli.events import Final, Generation, ListSink, SampleDone, SampleStarted, Token


def test_cot_answer_comes_from_final_answer_line(fake):
    fake.enqueue("17 * 23 is 391.\nFinal answer: 391")
    sink = ListSink()
    result = engine.run(Request("What is 17 * 23?"), sink, backend=fake)
    assert result.answer == "391"
    assert result.strategy == "cot"
    assert [c.answer for c in result.candidates] == ["391"]
    assert result.usage.completion_tokens == 7  # split on spaces
    assert result.cost_usd == 0.0
    # the event stream: started, tokens, the backend's generation, the strategy's verdict, final
    kinds = [type(e) for e in sink.events]
    assert kinds[0] is SampleStarted and kinds[-1] is Final
    assert "".join(e.text for e in sink.of(Token)) == "17 * 23 is 391.\nFinal answer: 391"
    assert sink.of(Generation)[0].sample == 0
    assert sink.of(SampleDone)[0].answer == "391"
    assert sink.of(Final)[0].result is result


def test_prompt_style_and_system_reach_the_backend(fake):
    fake.enqueue("Final answer: 4")
    engine.run(Request("2+2?", system="Be terse.", prompt_style="steps"), ListSink(), backend=fake)
    [call] = fake.calls
    assert call.messages[0] == {"role": "system", "content": "Be terse."}
    assert "step by step" in call.messages[1]["content"]
    assert call.messages[1]["content"].startswith("2+2?")


def test_small_models_default_to_direct_prompts(fake):
    fake.model = "smollm2-135m"
    fake.enqueue("Final answer: 4")
    engine.run(Request("2+2?"), ListSink(), backend=fake)
    assert "Answer directly" in fake.calls[0].messages[-1]["content"]


def test_flags_reach_generation_params(fake):
    fake.enqueue("Final answer: 4")
    engine.run(Request("2+2?", max_tokens=77, temperature=0.0, seed=5), ListSink(), backend=fake)
    params = fake.calls[0].params
    assert (params.max_tokens, params.temperature, params.seed) == (77, 0.0, 5)


def test_token_budget_stops_and_keeps_partial_answer(fake):
    fake.enqueue("one two three four five six seven eight nine ten")
    sink = ListSink()
    result = engine.run(Request("count", budgets=Budgets(max_total_tokens=5)), sink, backend=fake)
    assert result.stopped_by == "tokens"
    assert result.answer  # the partial text is the best there is
    assert result.usage.completion_tokens == 5  # tokens of the cut sample still count as spent


def test_a_cut_off_program_reply_is_read_by_its_expression(fake):
    """The budget cuts a `program` reply after its expression: the answer is the expression's
    value, as the vote would have read the whole reply, not the words the direct style reads."""
    question = "There are 4 bags with 9 marbles in each bag. How many marbles are there in total?"
    fake.enqueue("4 * 9 = 32 marbles in all the bags")
    result = engine.run(Request(question, prompt_style="program", budgets=Budgets(max_total_tokens=5)), ListSink(),
                        backend=fake)
    assert result.stopped_by == "tokens" and result.answer == "36"


def test_interrupt_returns_best_so_far(fake):
    def explode(call, i):
        raise KeyboardInterrupt

    fake.enqueue("Final answer: 7")
    fake.responder = explode
    from thinkcli.strategies.base import Plan

    def two_samples(problem, plan: Plan, backend, verifier, sink):
        from thinkcli.strategies.base import to_candidate

        first = backend.draw(problem.messages("direct"), plan.params())[0]
        to_candidate(first, sink)
        backend.draw(problem.messages("direct"), plan.params())  # interrupted here
        raise AssertionError("not reached")

    from thinkcli import strategies

    strategies.register_strategy("_two", two_samples)
    try:
        result = engine.run(Request("q", strategy="_two"), ListSink(), backend=fake)
    finally:
        del strategies.STRATEGIES["_two"]
    assert result.interrupted
    assert result.answer == "7"


def test_unknown_strategy_is_a_usage_error(fake):
    from thinkcli.errors import ExitStatus, ThinkError

    with pytest.raises(ThinkError) as err:
        engine.run(Request("q", strategy="nope"), ListSink(), backend=fake)
    assert err.value.status == ExitStatus.USAGE
    assert "unknown strategy 'nope'" in err.value.message


def test_a_backend_failure_after_finished_samples_answers_from_them(fake):
    """The server dies mid-run: the samples that finished still answer, with a warning."""
    from thinkcli.errors import BackendError
    from thinkcli.events import Notice

    def down(call, i):
        raise BackendError("server at http://127.0.0.1:9/v1 closed the connection")

    fake.enqueue("Final answer: 12", "Final answer: 12")
    fake.responder = down
    sink = ListSink()
    result = engine.run(Request("q", strategy="vote", samples=6), sink, backend=fake)
    assert result.answer == "12"
    assert any("closed the connection" in n for n in result.notes)
    [notice] = sink.of(Notice)
    assert "answering from the 2 finished sample(s)" in notice.text


def test_a_backend_failure_before_any_sample_is_the_error(fake):
    from thinkcli.errors import BackendError

    def down(call, i):
        raise BackendError("server unreachable")

    fake.responder = down
    with pytest.raises(BackendError):
        engine.run(Request("q"), ListSink(), backend=fake)


def test_seeded_draws_get_distinct_reproducible_seeds(fake):
    """Sample k of a run is drawn with seed + k, however the strategy batches its calls."""
    from thinkcli.backends.base import GenParams
    from thinkcli.engine import Budgets, Meter

    fake.responder = lambda call, i: "Final answer: 1"
    meter = Meter(fake, ListSink(), Budgets())
    meter.draw([{"role": "user", "content": "q"}], GenParams(seed=10), n=1)
    meter.draw([{"role": "user", "content": "q"}], GenParams(seed=10), n=2)
    meter.draw([{"role": "user", "content": "q"}], GenParams(seed=10), n=1)
    meter.draw([{"role": "user", "content": "q"}], GenParams(seed=None), n=1)
    # backends add the local index i to the call's seed: samples 0, 1-2, 3 get 10, 11-12, 13
    assert [c.params.seed for c in fake.calls] == [10, 11, 13, None]
