"""The judge verifier (score parsing, prompts, a second model on the run's books) and inverse perplexity."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import FakeBackend, Reply
from thinkcli import engine
from thinkcli.engine import Budgets, Meter, Request
from thinkcli.events import ListSink, VerifyDone
from thinkcli.verify.base import Candidate
from thinkcli.verify.certainty import InversePerplexity, certainty
from thinkcli.verify.judge import DEFAULT_SCORE, JudgeVerifier, parse_score

# -- parsing ---------------------------------------------------------------------------

filler = st.text(alphabet=st.characters(blacklist_categories=("Nd",), blacklist_characters="%/."), max_size=40)


@given(st.integers(0, 10), filler)
def test_n_out_of_10_is_read_after_any_reasoning(k, before):
    assert parse_score(f"{before}\nScore: {k}/10")[0] == k / 10
    assert parse_score(f"{before} {k} out of 10")[0] == k / 10


@given(st.integers(0, 10), filler)
def test_a_bare_score_is_on_the_rubric_scale(k, before):
    assert parse_score(f"{before} Score: {k}")[0] == k / 10


@given(st.floats(0, 1).map(lambda x: round(x, 2)).filter(lambda x: x not in (0.0, 1.0)))
def test_a_decimal_rating_is_a_fraction(x):
    assert parse_score(f"rating {x:.2f}")[0] == x


@given(st.text(max_size=200))
def test_any_text_gives_a_fraction_or_none_with_a_reason(text):
    value, how = parse_score(text)
    assert value is None or 0.0 <= value <= 1.0
    assert how


@given(st.integers(0, 10), st.integers(0, 10))
def test_the_last_score_wins(first, last):
    assert parse_score(f"Score: {first}/10. On reflection, Score: {last}/10")[0] == last / 10


def test_garbage_and_out_of_range():
    assert parse_score("The answer looks fine to me.") == (None, "no score in the reply")
    assert parse_score("Score: 11/10")[0] is None
    assert parse_score("Score: 250")[0] is None


# -- the judge on a scripted model ------------------------------------------------------


def test_judge_primes_the_score_on_a_raw_completion_backend(fake):
    fake.enqueue(" 8/10")
    sink = ListSink()
    meter = Meter(fake, sink, Budgets())
    verdict = JudgeVerifier(meter).score(Candidate(0, "17*23 = 391\nFinal answer: 391", "391", question="What is 17*23?"))
    assert (verdict.passed, verdict.score, verdict.detail) == (None, 0.8, "judge: Score: 8/10")
    [call] = fake.calls
    assert call.kind == "complete" and call.prompt.endswith("</user><assistant>Score:")
    assert "What is 17*23?" in call.prompt and "Final answer: 391" in call.prompt and "Rubric" in call.prompt
    assert (call.params.temperature, call.params.stop, call.params.max_tokens) == (0.0, ("\n",), 8)
    assert meter.usage.completion_tokens == 2  # judge tokens are on the run's books


def test_judge_in_chat_reads_a_free_form_reply(fake):
    from thinkcli.backends.base import Capabilities

    fake.capabilities = Capabilities(raw_completion=False)
    fake.enqueue("Correct arithmetic. Score: 7/10")
    verdict = JudgeVerifier(Meter(fake, ListSink(), Budgets())).score(Candidate(0, "Final answer: 1", "1", question="q"))
    assert verdict.score == 0.7
    [call] = fake.calls
    assert call.kind == "generate" and call.params.max_tokens == 64 and "Score: N/10" in call.messages[-1]["content"]


def test_judge_garbage_gets_the_low_default_with_the_reason(fake):
    fake.enqueue(" excellent!")
    verdict = JudgeVerifier(Meter(fake, ListSink(), Budgets())).score(Candidate(0, "Final answer: 1", "1", question="q"))
    assert verdict.score == DEFAULT_SCORE
    assert verdict.detail == "judge: no score in the reply; scored 0"
    assert verdict.output == "Score: excellent!"


def test_judge_of_a_partial_solution_uses_the_step_rubric(fake):
    fake.enqueue(" 6/10")
    JudgeVerifier(Meter(fake, ListSink(), Budgets())).score(Candidate(0, "Step 1: add", None, question="q"))
    assert "unfinished solution" in fake.calls[0].prompt


def test_best_of_n_with_judge_flag_end_to_end(fake):
    fake.enqueue("Final answer: 390", "Final answer: 391", " 3/10", " 9/10")
    sink = ListSink()
    result = engine.run(Request("What is 17*23?", strategy="best-of-n", samples=2, judge=True), sink, backend=fake)
    assert result.answer == "391" and result.chosen == 1
    assert [(c.kind, c.n) for c in fake.calls] == [("generate", 2), ("complete", 1), ("complete", 1)]
    assert [e.verdict.score for e in sink.of(VerifyDone)] == [0.3, 0.9]
    assert result.usage.completion_tokens == 3 + 3 + 2 + 2


def test_judge_model_is_a_second_backend_on_the_same_books(fake, fake_models):
    judge_backend = FakeBackend(model="judge-model").enqueue(" 2/10", " 7/10")
    fake_models.backends["judge-ref"] = judge_backend
    loaded = fake_models.loaded
    fake.enqueue("Final answer: 1", "Final answer: 2")
    sink = ListSink()
    request = Request("q", strategy="best-of-n", samples=2, judge_model="fake:judge-ref")
    result = engine.run(request, sink, backend=fake)
    assert loaded == ["judge-ref"]
    assert result.answer == "2"
    assert len(fake.calls) == 1 and len(judge_backend.calls) == 2  # the answering model never judged
    assert result.usage.completion_tokens == 3 + 3 + 2 + 2
    assert sink.of(VerifyDone)[1].verdict.detail == "judge judge-model: Score: 7/10"
    # judge samples are numbered after the answers, run-wide
    from thinkcli.events import SampleStarted

    assert [(e.sample, e.label) for e in sink.of(SampleStarted)] == [(0, "best-of-n"), (1, "best-of-n"), (2, "judge"), (3, "judge")]


# -- inverse perplexity ----------------------------------------------------------------------


@given(st.lists(st.floats(-50, 0), min_size=1, max_size=30))
def test_certainty_is_exp_mean_logprob_in_unit_interval(lps):
    mean = sum(lps) / len(lps)
    value = certainty(mean)
    assert 0.0 <= value <= 1.0
    assert math.isclose(value, math.exp(mean), abs_tol=1e-12)


def test_self_certainty_with_and_without_logprobs(fake):
    sure = InversePerplexity().score(Candidate(0, "x", "x", mean_logprob=-0.2, question="q"))
    assert sure.score == math.exp(-0.2) and sure.detail.startswith("certainty 0.82")
    blind = InversePerplexity().score(Candidate(0, "x", "x", mean_logprob=None, question="q"))
    assert (blind.passed, blind.score) == (None, 0.5)
    assert "no log-probs from this backend" in blind.detail


def test_self_certainty_costs_no_calls(fake):
    fake.enqueue(Reply("Final answer: 1", logprobs=[-0.3] * 3), Reply("Final answer: 2", logprobs=[-0.01] * 3))
    result = engine.run(Request("q", strategy="best-of-n", samples=2), ListSink(), backend=fake)
    assert len(fake.calls) == 1 and result.answer == "2"
