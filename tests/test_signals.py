"""Confidence signals (thinkcli/signals.py) on hand-built distributions, and how backends carry them."""

from __future__ import annotations

import doctest
import json
import math

import numpy as np
import pytest

from tests.openai_mock import (
    MESSAGES,
    backend,
    chat_chunk,
    gens,
    sse_body,
    stream,
    usage_chunk,
)
from thinkcli import select as sel
from thinkcli import signals
from thinkcli.backends import chunks
from thinkcli.backends.base import GenParams
from thinkcli.backends.llama_stream import SampleText

V = 1000


def reference(z: np.ndarray, chosen: int, k: int) -> tuple[float, float, float]:
    """The definitions written out longhand in float64: the oracle for the vectorised code."""
    z = z.astype(np.float64)
    logp = z - (z.max() + np.log(np.exp(z - z.max()).sum()))
    p = np.exp(logp)
    kl_uniform = float(np.sum((1 / len(z)) * (np.log(1 / len(z)) - logp)))
    assert p.sum() == pytest.approx(1.0)
    return float(logp[chosen]), kl_uniform, float(-np.sort(logp)[-k:].mean())


def test_uniform_has_zero_self_certainty_and_confidence_log_v():
    lp, kl, conf = signals.logit_stats(np.full((3, V), 2.5, np.float32), [0, 7, 999])
    assert np.allclose(kl, 0.0, atol=1e-5)
    assert np.allclose(lp, -math.log(V), atol=1e-4)
    assert np.allclose(conf, math.log(V), atol=1e-4)  # every top-k token has p = 1/V


def test_near_one_hot_is_the_most_self_certain():
    # KL(U || p) has no upper bound: it grows as p approaches one-hot (+inf at a true one-hot).
    # So "the maximum" is approached, never reached; each sharper distribution scores higher.
    margins = [0.0, 1.0, 5.0, 20.0, 60.0]
    rows = np.zeros((len(margins), V), np.float32)
    rows[:, 3] = margins
    _, kl, conf = signals.logit_stats(rows, [3] * len(margins))
    assert list(kl) == sorted(kl) and kl[0] == pytest.approx(0.0, abs=1e-5)
    # closed form for logits (m, 0, ..., 0): log(e^m + V - 1) - m / V - log V
    for m, got in zip(margins, kl, strict=True):
        assert got == pytest.approx(math.log(math.exp(m) + V - 1) - m / V - math.log(V), rel=1e-4, abs=1e-4)
    assert kl[-1] > math.log(V)  # sharper than KL(p || U) could ever say (its maximum is log V)
    # DeepConf's confidence is not monotone at small margins (a slightly raised top token
    # lifts its own log-prob), but a sharp distribution scores far above a flat one.
    assert conf[-1] > conf[0] + 40
    one_hot = np.full((1, 4), -np.inf, np.float32)
    one_hot[0, 1] = 0.0
    with np.errstate(invalid="ignore"):
        assert signals.logit_stats(one_hot, [1], k=2)[1][0] == math.inf


def test_vectorised_stats_match_the_longhand_definitions():
    rng = np.random.default_rng(7)
    rows = (rng.standard_normal((5, V)) * rng.uniform(0.5, 6, (5, 1))).astype(np.float32)
    chosen = [int(rng.integers(V)) for _ in range(5)]
    lp, kl, conf = signals.logit_stats(rows, chosen, k=20)
    for j in range(5):
        want = reference(rows[j], chosen[j], 20)
        assert (lp[j], kl[j], conf[j]) == pytest.approx(want, rel=1e-4, abs=1e-4)


def test_top_k_stats_from_a_servers_lists():
    kl, conf = signals.top_k_stats([math.log(0.2)] * 5)
    assert kl == pytest.approx(0.0, abs=1e-12) and conf == pytest.approx(-math.log(0.2))
    peaked = signals.top_k_stats([math.log(0.9), math.log(0.05), math.log(0.05)])
    flat = signals.top_k_stats([math.log(0.4), math.log(0.3), math.log(0.3)])
    assert peaked[0] > flat[0] and peaked[1] > flat[1]
    assert signals.top_k_stats([-0.5]) == (None, 0.5)


def test_trace_signals_groups_and_bottom_ten_percent():
    t = signals.Trace()
    confs = [4.0] * 30
    confs[10:13] = [1.0, 1.0, 1.0]
    for c in confs:
        t.add(-0.5, 1.5, c)
    s = t.signals(window=3)
    groups = [sum(confs[i:i + 3]) / 3 for i in range(28)]
    assert s["deepconf-lowest-group"] == pytest.approx(1.0) == pytest.approx(min(groups))
    assert s["deepconf-bottom-10"] == pytest.approx(sum(sorted(groups)[:3]) / 3)  # 10% of 28 groups -> 3
    assert s["deepconf-mean"] == pytest.approx(sum(confs) / 30)
    assert s["self-certainty"] == pytest.approx(1.5)
    assert s["mean-logprob"] == pytest.approx(-0.5) and s["inverse-perplexity"] == pytest.approx(math.exp(-0.5))
    assert set(s) == set(sel.SIGNALS)  # the backend makes exactly the signals --select names
    short = signals.Trace()
    for c in (2.0, 4.0):
        short.add(-0.1, 0.0, c)
    assert short.signals(window=16)["deepconf-lowest-group"] == pytest.approx(3.0)  # one group: the whole trace
    assert signals.Trace().signals(16) == {}


def test_sample_text_carries_signals_onto_its_generation():
    st = SampleText()
    for piece, conf in ((b"1", 3.0), (b"2", 5.0)):
        st.feed(piece, -0.2, 0.7, conf)
    gen = st.generation(0, 9, "stop", True, window=16)
    assert gen.signals["deepconf-mean"] == pytest.approx(4.0) and gen.signals["self-certainty"] == pytest.approx(0.7)
    assert gen.approximate is False and gen.logprobs == [-0.2, -0.2]
    assert st.generation(0, 9, "stop", False).signals == {}


def top(*lps):
    return [{"token": f"t{i}", "logprob": x} for i, x in enumerate(lps)]


def lp_chunk(text, lp, tops, finish=None):
    chunk = chat_chunk(text, finish=finish)
    chunk["choices"][0]["logprobs"] = {"content": [{"token": text, "logprob": lp, "top_logprobs": top(*tops)}]}
    return chunk


def test_remote_signals_come_from_top_logprobs_and_are_marked_approximate():
    body = sse_body(lp_chunk("4", -0.1, [-0.1, -3.0, -4.0]), lp_chunk("2", -0.2, [-0.2, -2.0, -5.0]),
                    chat_chunk(None, finish="stop"), usage_chunk())
    [g] = gens(run_remote(body))
    assert g.approximate and g.logprobs == [-0.1, -0.2]
    confs = [-(-0.1 - 3.0 - 4.0) / 3, -(-0.2 - 2.0 - 5.0) / 3]
    assert g.signals["deepconf-mean"] == pytest.approx(sum(confs) / 2)
    assert g.signals["self-certainty"] > 0 and set(g.signals) == set(sel.SIGNALS)


def test_remote_without_top_logprobs_still_gives_the_logprob_signals():
    chunk = chat_chunk("4")
    chunk["choices"][0]["logprobs"] = {"content": [{"token": "4", "logprob": -0.3}]}
    [g] = gens(run_remote(sse_body(chunk, chat_chunk(None, finish="stop"), usage_chunk())))
    assert set(g.signals) == {"mean-logprob", "inverse-perplexity"} and g.approximate


def test_remote_online_stop_stops_reading_a_stream_below_the_threshold():
    unsure = [lp_chunk(f" w{i}", -2.0, [-2.0, -2.1, -2.2]) for i in range(6)]
    body = sse_body(*unsure, lp_chunk(" never-read", -0.1, [-0.1, -9.0, -9.0]),
                    chat_chunk(None, finish="stop"), usage_chunk())
    events = run_remote(body, GenParams(max_tokens=64, group_window=4, confidence_stop=3.0))
    [g] = gens(events)
    assert g.finish_reason == chunks.LOW_CONFIDENCE
    assert g.text == " w0 w1 w2 w3"  # stopped once the first full window (4 tokens) was below 3.0
    assert g.usage.estimated  # the usage block at the end was never read


def run_remote(body: str, params: GenParams | None = None):
    rec = lambda request: stream(body)  # noqa: E731
    b = backend(rec)
    try:
        return list(b.generate(MESSAGES, params or GenParams(max_tokens=16), 1))
    finally:
        b.close()


def test_doctests():
    assert doctest.testmod(signals).failed == 0
    assert doctest.testmod(chunks).failed == 0


def test_json_shape_of_a_candidate_with_signals():
    from thinkcli.strategies.base import to_candidate

    st = SampleText()
    st.feed(b"Final answer: 4", -0.1, 2.0, 6.0)
    cand = to_candidate(st.generation(3, 5, "stop", True))
    d = json.loads(json.dumps(cand.as_dict()))
    assert d["signals"]["self-certainty"] == 2.0 and d["signals_approximate"] is False
    stopped = to_candidate(st.generation(4, 5, "low-confidence", True))
    assert stopped.answer is None  # a sample DeepConf stopped does not vote


