"""`--select` through the real CLI: against a real server with and without log-probs, and the
embedded model (signals in --json)."""

from __future__ import annotations

import json
import math

import pytest

from tests.faultserver import TOP_LOGPROBS, FaultServer
from thinkcli import select as sel


@pytest.fixture(autouse=True)
def no_host_keys(monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def vote_on(think, srv: FaultServer, rule: str):
    """A vote of up to 3 against the server with --select RULE; the server is stopped after."""
    try:
        return think("What is 2 + 2?", "-m", "openai:fault-model", "--base-url", srv.url, "--max-tokens", "16",
                     "--strategy", "vote", "-n", "3", "--confidence", "1", "--json", "--select", rule)
    finally:
        srv.stop()


@pytest.mark.server
def test_select_without_log_probs_falls_back_to_majority_and_says_so(think):
    proc = vote_on(think, FaultServer(logprobs=False).start(), "weighted:self-certainty")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["answer"] == "4" and doc["plan"]["select"] == "weighted:self-certainty"
    assert doc["select"]["rule"] == "majority" and doc["select"]["weights"] == {"4": float(len(doc["samples"]))}
    assert "no log-probs" in doc["select"]["fallback"]
    said = [ln for ln in proc.stderr.decode().splitlines() if "--select weighted:self-certainty" in ln]
    assert len(said) == 1 and "plain majority vote instead" in said[0]


@pytest.mark.server
def test_select_on_a_server_with_top_logprobs_uses_approximate_signals(think):
    srv = FaultServer().start()
    proc = vote_on(think, srv, "weighted:deepconf-mean")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert srv.completion_requests()[0]["body"]["top_logprobs"] == 20
    assert doc["select"]["rule"] == "weighted:deepconf-mean" and "fallback" not in doc["select"]
    conf = -sum(TOP_LOGPROBS) / len(TOP_LOGPROBS)  # every token gets the same alternatives
    for s in doc["samples"]:
        assert s["signals_approximate"] is True and set(s["signals"]) == set(sel.SIGNALS)
        assert s["signals"]["deepconf-mean"] == pytest.approx(conf)
        assert s["signals"]["mean-logprob"] == pytest.approx(-0.25)
    assert doc["select"]["weights"]["4"] == pytest.approx(len(doc["samples"]) * conf, rel=1e-5)
    assert "--select" not in proc.stderr.decode()


def test_bad_select_is_a_usage_error(think):
    proc = think("hi", "--select", "filtered:self-certainty:7")
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == ("think: error: --select 'filtered:self-certainty:7': "
                                            "the keep fraction must be a number in (0, 1]")
    proc = think("hi", env={"THINK_SELECT": "best"})
    assert proc.returncode == 2 and "needs a signal" in proc.stderr.decode()


@pytest.mark.model
def test_signals_of_the_embedded_model_appear_in_json(think):
    proc = think("--strategy", "vote", "-n", "3", "--confidence", "1", "--seed", "5", "--max-tokens", "48",
                 "--threads", "1", "--select", "best:self-certainty", "--json", "What is 7 + 5?")
    assert proc.returncode == 0, proc.stderr.decode()
    doc = json.loads(proc.stdout)
    assert doc["select"]["rule"] == "best:self-certainty"
    samples = doc["samples"]
    for s in samples:
        sig = s["signals"]
        assert set(sig) == set(sel.SIGNALS) and s["signals_approximate"] is False
        assert sig["self-certainty"] > 0 and sig["deepconf-lowest-group"] <= sig["deepconf-bottom-10"]
        assert sig["inverse-perplexity"] == pytest.approx(math.exp(sig["mean-logprob"]), rel=1e-4)
        assert sig["mean-logprob"] == pytest.approx(s["mean_logprob"], abs=1e-5)
    answered = [s for s in samples if s["answer"] is not None]
    surest = max(answered, key=lambda s: s["signals"]["self-certainty"])
    assert doc["chosen"] == surest["index"]
