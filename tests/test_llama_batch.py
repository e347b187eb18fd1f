"""The batched decoder on the real embedded model: sharing, refill, cancellation, limits."""

from __future__ import annotations

import math

import pytest

from thinkcli.backends import llama_batch
from thinkcli.backends.base import GenParams
from thinkcli.backends.llama import LlamaBackend
from thinkcli.backends.llama_stream import SampleText
from thinkcli.events import Generation, Token

pytestmark = pytest.mark.model

STORY = [{"role": "user", "content": "Write a story about a cat who learns to fly."}]
MATH = [{"role": "user", "content": "What is 12 + 30? Explain."}]


@pytest.fixture(scope="module")
def backend(embedded_model):
    b = LlamaBackend(embedded_model)
    yield b
    b.close()


def gens(events) -> list[Generation]:
    return sorted((e for e in events if isinstance(e, Generation)), key=lambda g: g.sample)


def test_seeded_batch_repeats(backend):
    params = GenParams(max_tokens=24, temperature=0.9, seed=7)
    first = gens(backend.generate(STORY, params, 4))
    second = gens(backend.generate(STORY, params, 4))
    assert [g.text for g in first] == [g.text for g in second]
    assert [g.logprobs for g in first] == [g.logprobs for g in second]
    # Different seeds per sample: a 0.9-temperature story does not repeat four times.
    assert len({g.text for g in first}) > 1


def test_greedy_samples_of_one_batch_are_identical(backend):
    out = gens(backend.generate(MATH, GenParams(max_tokens=20, temperature=0), 5))
    assert [g.sample for g in out] == [0, 1, 2, 3, 4]
    assert len({g.text for g in out}) == 1 and out[0].text.strip()
    assert len({tuple(g.logprobs) for g in out}) == 1


def test_finished_sample_frees_its_slot_for_a_pending_one(backend, monkeypatch):
    monkeypatch.setattr(llama_batch, "BATCH_CAP", 3)
    events = list(backend.generate(STORY, GenParams(max_tokens=6, temperature=0.8, seed=1), 8))
    done = gens(events)
    assert [g.sample for g in done] == list(range(8))
    assert all(g.usage.completion_tokens >= 1 for g in done)
    order = [e.sample for e in events if isinstance(e, Token | Generation)]
    # Three samples decode together: the first tokens interleave 0, 1, 2 ...
    assert order[:3] == [0, 1, 2]
    # ... and sample 3 starts only after one of them finished and gave back its slot.
    first_done = next(k for k, e in enumerate(events) if isinstance(e, Generation))
    first_of_3 = next(k for k, e in enumerate(events) if getattr(e, "sample", None) == 3)
    assert first_of_3 > first_done
    # Never more than three samples started and not yet finished.
    started, finished, most = set(), set(), 0
    for e in events:
        if isinstance(e, Generation):
            finished.add(e.sample)
        elif isinstance(e, Token):
            started.add(e.sample)
        most = max(most, len(started - finished))
    assert most <= 3


def test_closing_mid_batch_keeps_finished_samples_and_the_backend(backend, monkeypatch):
    monkeypatch.setattr(llama_batch, "BATCH_CAP", 2)
    params = GenParams(max_tokens=40, temperature=0.8, seed=3)
    it = backend.generate(STORY, params, 6)
    finished = []
    for e in it:
        if isinstance(e, Generation):
            finished.append(e)
            if len(finished) == 2:
                break
    it.close()
    assert len(finished) == 2
    # Nothing of the cancelled run is left behind: a new run gets the same as a cold one.
    again = gens(backend.generate(MATH, GenParams(max_tokens=12, temperature=0), 2))
    fresh = LlamaBackend(backend.path)
    try:
        cold = gens(fresh.generate(MATH, GenParams(max_tokens=12, temperature=0), 2))
    finally:
        fresh.close()
    assert [g.text for g in again] == [g.text for g in cold]


def test_interrupt_mid_batch_leaves_the_backend_usable(backend):
    it = backend.generate(STORY, GenParams(max_tokens=40, temperature=0.8, seed=5), 4)
    tokens = 0
    with pytest.raises(KeyboardInterrupt):
        for e in it:
            tokens += isinstance(e, Token)
            if tokens == 10:
                it.throw(KeyboardInterrupt)
    out = gens(backend.generate(MATH, GenParams(max_tokens=8, temperature=0), 3))
    assert len(out) == 3 and all(g.text for g in out)


def test_context_overflow_ends_the_sample_not_the_run(embedded_model):
    small = LlamaBackend(embedded_model, n_ctx=64)
    try:
        prompt_tokens = len(small._model.tokenize(small.chat_prompt(STORY), add_special=True))
        out = gens(small.generate(STORY, GenParams(max_tokens=200, temperature=0.8, seed=2), 3))
    finally:
        small.close()
    assert len(out) == 3
    for g in out:
        # A sample that did not stop on its own ran into the 64-token context.
        assert g.finish_reason in ("stop", "context")
        assert prompt_tokens + g.usage.completion_tokens <= 64
    assert any(g.finish_reason == "context" for g in out)


def test_max_tokens_ends_with_length(backend):
    [g] = gens(backend.generate(STORY, GenParams(max_tokens=5, temperature=0.8, seed=4), 1))
    assert g.finish_reason == "length" and g.usage.completion_tokens == 5


def test_logprobs_are_finite_and_not_positive(backend):
    out = gens(backend.generate(STORY, GenParams(max_tokens=16, temperature=0.8, seed=9), 3))
    for g in out:
        assert g.logprobs and len(g.logprobs) == g.usage.completion_tokens
        assert all(math.isfinite(x) and x <= 0 for x in g.logprobs)
        assert g.mean_logprob < 0


def test_logprobs_can_be_skipped(backend):
    [g] = gens(backend.generate(STORY, GenParams(max_tokens=4, seed=1, logprobs=False), 1))
    assert g.logprobs is None


def test_logprobs_agree_with_llama_cpp_python(backend, embedded_model):
    """The same greedy continuation scored by llama-cpp-python's own high-level API."""
    import llama_cpp

    prompt = backend.chat_prompt(MATH)
    [ours] = gens(backend.complete(prompt, GenParams(max_tokens=8, temperature=0), 1))
    ref = llama_cpp.Llama(model_path=str(embedded_model), n_ctx=256, logits_all=True, verbose=False)
    try:
        out = ref.create_completion(prompt, max_tokens=8, temperature=0, logprobs=1)
    finally:
        ref.close()
    theirs = out["choices"][0]["logprobs"]["token_logprobs"]
    assert out["choices"][0]["text"] == ours.text
    assert len(theirs) == len(ours.logprobs)
    # Flash attention, when on, moves log-probs by up to ~0.1; a wrong token or distribution by far more.
    assert all(abs(a - b) < 0.15 for a, b in zip(ours.logprobs, theirs, strict=True)), (ours.logprobs, theirs)


def test_stop_string_trims_the_text(backend):
    [full] = gens(backend.generate(MATH, GenParams(max_tokens=24, temperature=0), 1))
    words = full.text.split()
    assert len(words) >= 4, full.text
    stop = " " + words[2]
    [cut] = gens(backend.generate(MATH, GenParams(max_tokens=24, temperature=0, stop=(stop,)), 1))
    assert cut.finish_reason == "stop"
    assert cut.text == full.text[: full.text.index(stop)]
    streamed = "".join(e.text for e in backend.generate(MATH, GenParams(max_tokens=24, temperature=0, stop=(stop,)), 1)
                       if isinstance(e, Token))
    assert streamed == cut.text


def test_prefix_reuse_matches_a_cold_evaluation(backend, embedded_model):
    base = backend.chat_prompt(MATH)
    params = GenParams(max_tokens=16, temperature=0)
    [first] = gens(backend.complete(base, params, 1))
    # A follow-up that extends the first answer, as refine and budget forcing do.
    follow = base + first.text + "\nWait, let me check that again."
    [warm] = gens(backend.complete(follow, params, 1))
    decoder = backend._decoders[0]
    assert decoder.reused >= len(backend._model.tokenize(base, add_special=True)) - 1
    assert warm.usage.cached_tokens == decoder.reused
    cold_backend = LlamaBackend(embedded_model)
    try:
        [cold] = gens(cold_backend.complete(follow, params, 1))
        assert cold_backend._decoders[0].reused == 0
    finally:
        cold_backend.close()
    assert warm.text == cold.text


def test_nested_calls_get_their_own_context(backend):
    params = GenParams(max_tokens=10, temperature=0)
    alone = gens(backend.generate(MATH, params, 1))[0].text
    outer = backend.generate(STORY, GenParams(max_tokens=10, temperature=0.7, seed=1), 2)
    next(outer)  # the outer call is mid-batch when another call comes in (a judge, say)
    inner = gens(backend.generate(MATH, params, 1))[0].text
    rest = gens(outer)
    assert inner == alone
    assert len(rest) == 2


def test_prompt_longer_than_the_context_is_a_usage_error(embedded_model):
    from thinkcli.errors import UsageError

    small = LlamaBackend(embedded_model, n_ctx=32)
    try:
        with pytest.raises(UsageError, match=r"prompt is \d+ tokens but the model's context is 32 tokens"):
            list(small.generate(STORY * 4, GenParams(max_tokens=4), 2))
    finally:
        small.close()


def test_sample_text_holds_back_a_possible_stop_string():
    s = SampleText(stop=("END",))
    assert s.feed(b"abc E", -1.0) == "abc "
    assert s.feed(b"N", -1.0) == ""
    assert s.feed(b"X", -1.0) == "ENX"
    assert s.feed(b" E", -1.0) == " "
    assert s.flush() == "E"
    assert s.text == "abc ENX E" and not s.stopped


def test_sample_text_joins_utf8_split_across_tokens():
    s = SampleText()
    snow = "☃".encode()
    assert [s.feed(snow[:1]), s.feed(snow[1:2]), s.feed(snow[2:] + b"!")] == ["", "", "☃!"]
    t = SampleText()
    assert t.feed(snow[:2]) == "" and t.flush() == "\ufffd"


def test_signals_are_exact_from_the_full_logits(backend, embedded_model):
    """Self-certainty and DeepConf confidence of one greedy token, against llama-cpp-python's logits."""
    import numpy as np
    from llama_cpp import Llama

    [ours] = gens(backend.generate(MATH, GenParams(max_tokens=1, temperature=0), 1))
    llm = Llama(str(embedded_model), n_ctx=512, logits_all=True, verbose=False)
    try:
        prompt = llm.tokenize(backend.chat_prompt(MATH).encode(), add_bos=True, special=True)
        llm.eval(prompt)
        z = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float64)  # logits_all: every position kept
    finally:
        llm.close()
    assert z.std() > 1.0  # a real distribution, not an empty row
    logp = z - (z.max() + np.log(np.exp(z - z.max()).sum()))
    kl_uniform = float(np.mean(np.log(1 / len(z)) - logp))
    confidence = float(-np.sort(logp)[-20:].mean())
    assert ours.signals["self-certainty"] == pytest.approx(kl_uniform, abs=0.2)
    assert ours.signals["deepconf-mean"] == pytest.approx(confidence, abs=0.2)
    assert ours.signals["deepconf-lowest-group"] == ours.signals["deepconf-mean"]  # one token, one group


def test_online_stop_frees_the_slot_for_the_next_sample(backend, monkeypatch):
    """DeepConf online: a sample whose group confidence falls below the threshold ends at once
    (finish 'low-confidence') and a pending sample takes its slot."""
    monkeypatch.setattr(llama_batch, "BATCH_CAP", 2)
    params = GenParams(max_tokens=40, temperature=0.8, seed=3, group_window=4, confidence_stop=1e9)
    events = list(backend.generate(STORY, params, 5))
    done = gens(events)
    assert [g.sample for g in done] == [0, 1, 2, 3, 4]
    # Nothing reaches a confidence of 1e9: each sample is judged at its first full window and stopped.
    assert all(g.finish_reason == "low-confidence" and g.usage.completion_tokens == 4 for g in done)
    first_done = next(k for k, e in enumerate(events) if isinstance(e, Generation))
    first_of_2 = next(k for k, e in enumerate(events) if getattr(e, "sample", None) == 2)
    assert first_of_2 > first_done  # sample 2 started in a slot a stopped sample gave back
    # A threshold below every window stops nothing: the same seeds run to their natural end.
    free = gens(backend.generate(STORY, params.with_(confidence_stop=-1.0), 2))
    assert all(g.finish_reason != "low-confidence" and g.usage.completion_tokens > 4 for g in free)


# Two conversations that share a long system prompt, as every question of a prompt style does.
RULES = "You are a careful assistant. " + " ".join(f"Rule {k}: answer plainly and check the arithmetic." for k in range(30))
ASK_A = [{"role": "system", "content": RULES}, {"role": "user", "content": "Write a story about a cat who learns to fly."}]
ASK_B = [{"role": "system", "content": RULES}, {"role": "user", "content": "What is 12 + 30? Explain."}]


def test_forget_makes_seeded_samples_independent_of_what_was_decoded_before(backend):
    params = GenParams(max_tokens=32, temperature=0.9, seed=11)
    backend.forget()
    first = gens(backend.generate(ASK_A, params, 4))
    # B shares A's system prompt: without ``forget`` A's question would be evaluated on top of
    # B's cached prefix, in other pieces than from scratch, and the samples differ (they do here).
    gens(backend.generate(ASK_B, GenParams(max_tokens=32, temperature=0.9, seed=3), 3))
    backend.forget()
    again = gens(backend.generate(ASK_A, params, 4))
    assert [g.text for g in again] == [g.text for g in first]
    assert [g.logprobs for g in again] == [g.logprobs for g in first]
    assert backend._decoders[0].reused == 0  # evaluated from an empty cache


def test_a_seeded_run_repeats_in_a_long_lived_process_and_an_unseeded_one_reuses_the_cache(backend):
    import thinkcli

    ask = dict(model=backend, strategy="vote", samples=4, temperature=0.8, max_tokens=32, system=RULES)
    backend.forget()  # as in a fresh process
    first = thinkcli.run("Tom has 17 apples and buys 28 more. How many apples does he have?", seed=5, **ask)
    thinkcli.run("A train goes 60 km an hour for 3 hours. How far does it go?", seed=9, **ask)
    again = thinkcli.run("Tom has 17 apples and buys 28 more. How many apples does he have?", seed=5, **ask)
    assert [c.text for c in again.candidates] == [c.text for c in first.candidates]
    assert again.usage.cached_tokens == first.usage.cached_tokens  # each evaluated its prompt from scratch
    # Unseeded, the next run keeps the cached prompt and re-reads only where it differs.
    unseeded = thinkcli.run("Tom has 17 apples and buys 28 more. How many pears does he have?", **ask)
    assert unseeded.usage.cached_tokens > again.usage.cached_tokens
