"""Smoke tests through the real parts: the `think` command, the embedded SmolLM2-135M via
llama.cpp, and (for best-of-n) the real sandboxed --verify command. Tiny token limits."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.model

Q = "What is 12 + 7?"


def ask(think, model, *args: str) -> dict:
    proc = think("-m", str(model), "--seed", "3", "--json", *args, Q)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    return json.loads(proc.stdout)


def check_certainty(sample: dict) -> None:
    """Self-certainty reports a number only when the backend gave log-probs."""
    verdict = sample["verdict"]
    assert 0.0 <= verdict["score"] <= 1.0
    if sample.get("mean_logprob") is not None:
        assert verdict["detail"].startswith("certainty ")
    else:
        assert "no log-probs from this backend" in verdict["detail"] and verdict["score"] == 0.5


def test_best_of_n_scores_every_sample_and_keeps_the_best(think, embedded_model):
    doc = ask(think, embedded_model, "--strategy", "best-of-n", "-n", "3", "--max-tokens", "16")
    samples = doc["samples"]
    assert len(samples) == 3
    for s in samples:
        check_certainty(s)
    best = max(samples, key=lambda s: s["score"])
    assert doc["chosen"] == best["index"] and doc["answer"] == best["answer"]


def test_best_of_n_stops_at_the_first_sample_the_command_passes(think, embedded_model, tmp_path):
    proc = think("-m", str(embedded_model), "--json", "--strategy", "best-of-n", "-n", "4",
                 "--max-tokens", "12", "--verify", "true", Q, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    doc = json.loads(proc.stdout)
    assert len(doc["samples"]) == 1 and doc["samples"][0]["verdict"]["passed"] is True
    assert any("stopped early" in n for n in doc["notes"])


def test_best_of_n_with_no_passing_sample_exits_4(think, embedded_model, tmp_path):
    proc = think("-m", str(embedded_model), "--json", "--strategy", "best-of-n", "-n", "2",
                 "--max-tokens", "8", "--verify", "false", Q, cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr.decode()[-2000:]
    doc = json.loads(proc.stdout)
    assert [s["verdict"]["passed"] for s in doc["samples"]] == [False, False]


def test_best_of_n_with_a_second_judge_model(think, embedded_model):
    doc = ask(think, embedded_model, "--strategy", "best-of-n", "-n", "2", "--max-tokens", "8",
              "--judge-model", str(embedded_model))
    details = [s["verdict"]["detail"] for s in doc["samples"]]
    assert all(d.startswith("judge ") for d in details), details
    answered = sum(s["completion_tokens"] for s in doc["samples"])
    assert doc["usage"]["completion_tokens"] > answered  # the judge's tokens are counted too


def test_refine_keeps_a_scored_version(think, embedded_model):
    doc = ask(think, embedded_model, "--strategy", "refine", "--rounds", "1", "--max-tokens", "20")
    assert 1 <= len(doc["samples"]) <= 2
    kept = [n for n in doc["notes"] if n.startswith("kept version")]
    assert kept and doc["chosen"] in [s["index"] for s in doc["samples"]]
    assert doc["answer"]


def test_beam_search_finishes_beams(think, embedded_model):
    doc = ask(think, embedded_model, "--strategy", "beam", "--beam-width", "2", "--max-tokens", "16")
    assert doc["samples"]  # the beams that finished, at whatever depth each did
    assert doc["chosen"] == max(doc["samples"], key=lambda s: s["score"])["index"]
    for s in doc["samples"]:
        check_certainty(s)
        assert s["text"].strip()
    assert any(n.startswith("beam search: ") for n in doc["notes"])


def test_mcts_visits_add_up_to_the_iterations(think, embedded_model):
    doc = ask(think, embedded_model, "--strategy", "mcts", "-n", "3", "--max-tokens", "24")
    [note] = [n for n in doc["notes"] if n.startswith("mcts: ")]
    visits = [int(v) for v in re.search(r"\[(.*)\]", note).group(1).split(", ")]
    assert sum(visits) == 3  # every iteration passed through exactly one child of the root
    assert len(doc["samples"]) <= 3 and doc["answer"]


def test_budget_forcing_thinks_at_least_the_minimum(think, embedded_model):
    doc = ask(think, embedded_model, "--strategy", "budget", "--think-min", "24", "--think-max", "40",
              "--max-tokens", "8")
    [note] = [n for n in doc["notes"] if n.startswith("thinking ")]
    used = int(note.split()[1])
    assert doc["usage"]["reasoning_tokens"] == used
    assert 24 <= used or "the model would not continue after Wait" in doc["notes"]
    assert used <= 40 + 2  # "Wait" may add a token or two after the last check
    assert "\nFinal answer:" in doc["samples"][0]["text"]


def test_budget_limits_that_cannot_hold_are_a_one_line_usage_error(think, embedded_model):
    proc = think("-m", str(embedded_model), "--strategy", "budget", "--think-min", "60", "--think-max", "50", Q)
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert err.strip() == "think: error: --think-min 60 is above --think-max 50; lower --think-min or raise --think-max"


def test_a_missing_judge_model_is_a_one_line_unavailable_error(think, embedded_model, tmp_path):
    missing = tmp_path / "judge.gguf"
    proc = think("-m", str(embedded_model), "--strategy", "best-of-n", "-n", "2", "--judge-model", str(missing), Q)
    assert proc.returncode == 3
    assert proc.stderr.decode().strip() == f"think: error: no model at {missing}; run `think models` to see what is installed"
    assert proc.stdout == b""


def test_auto_with_a_greedy_probe_asks_the_greedy_reply_first(think, embedded_model):
    from thinkcli import profiles

    auto = {"strategy": "auto", "samples": 4, "prompt_style": "program", "temperature": 0.4, "probe": 2,
            "probe_greedy": True, "round_size": 2, "confidence": 1.0}
    profiles.save({"key": profiles.file_hash(embedded_model), "model": "smollm2-135m", "effort": {"auto": auto}})
    doc = ask(think, embedded_model, "--effort", "auto", "--max-tokens", "24")
    greedy = ask(think, embedded_model, "--strategy", "cot", "-t", "0", "--prompt-style", "program", "--max-tokens", "24")
    assert doc["plan"]["probe_greedy"] is True and doc["plan"]["sources"]["probe_greedy"] == "profile"
    assert "probe: 2 samples, the first greedy" in doc["notes"]
    assert doc["samples"][0]["text"] == greedy["samples"][0]["text"]
    assert len(doc["samples"]) in (2, 4)  # the probe agreed and stopped, or the vote drew the rest
