"""Property: whatever flags, THINK_* values and config values a user gives, `think` ends within
its time limit with exit 0-4 and at most one `think: error:` line, never a traceback.

Each example is a real CLI process (``python -m tests.fakecli``: the real program with the
scripted backend registered as ``fake:``), so parsing, config, validation, strategies,
budgets, renderers and history all run as they do for a user. THINK_FUZZ_EXAMPLES=300
runs more examples than the suite's 30.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOT
from thinkcli.config import SCHEMA

TEXTS = ["0", "-1", "1", "2", "3", "7", "300", "1e309", "-0", "nan", "inf", "-inf", "1.5", "0.0001", "", " ",
         "abc", "[/]", "\x1b[2J", "99999999999999999999", "0x10", "１２", "true", "low", "auto", "steps", "vote"]
FLAGS = ["--samples", "--max-tokens", "--temperature", "--seed", "--strategy", "--effort", "--confidence",
         "--rounds", "--beam-width", "--think-min", "--think-max", "--max-total-tokens", "--max-cost",
         "--verify-timeout", "--threads", "--parallel", "--max-retries", "--prompt-style", "--system"]
SWITCHES = ["--json", "-q", "--judge"]
STRATEGIES = ["cot", "vote", "best-of-n", "refine", "beam", "mcts", "budget", "auto"]
TIME_LIMIT = 5.0

flag_values = st.one_of(st.sampled_from(TEXTS), st.sampled_from(STRATEGIES),
                        st.integers(-10, 2**40).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr))
config_values = st.one_of(
    st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
    st.sampled_from(TEXTS + STRATEGIES), st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["a", "base_url"]), st.sampled_from(["x", "http://127.0.0.1:1/v1"]), max_size=2),
)


@settings(max_examples=int(os.environ.get("THINK_FUZZ_EXAMPLES", "30")), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    flags=st.lists(st.tuples(st.sampled_from(FLAGS), flag_values), max_size=4),
    switches=st.lists(st.sampled_from(SWITCHES), max_size=2, unique=True),
    env=st.dictionaries(st.sampled_from(sorted(SCHEMA)), st.sampled_from(TEXTS + STRATEGIES), max_size=3),
    conf=st.dictionaries(st.sampled_from(sorted(SCHEMA) + ["aliases", "providers", "bogus"]), config_values, max_size=3),
    prompt=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40),
)
def test_any_settings_end_in_time_with_an_exit_status_and_no_traceback(flags, switches, env, conf, prompt, tmp_path_factory):
    home = tmp_path_factory.mktemp("fuzz")
    try:
        (home / "config.toml").write_text(tomli_w.dumps(conf), "utf-8")
    except (TypeError, ValueError):  # what TOML cannot hold (NaN is fine; mixed lists may not be)
        (home / "config.toml").write_text("samples = nan\n", "utf-8")
    argv = [sys.executable, "-m", "tests.fakecli", "-m", "fake:m", "--time-limit", str(TIME_LIMIT)]
    for flag, value in flags:
        argv += [flag, value]
    argv += [*switches, "--", prompt or "What is 2 + 2?"]
    environ = {k: v for k, v in os.environ.items() if not k.startswith("THINK_")}
    environ.update({"THINK_CONFIG_DIR": str(home), "THINK_HISTORY_DB": str(home / "h.db"),
                    "THINK_MODELS_DIR": str(home / "models"), "PYTHONPATH": f"{ROOT}{os.pathsep}{environ.get('PYTHONPATH', '')}"})
    environ.update({"THINK_" + k.upper(): v for k, v in env.items()})
    # The process must end on its own: the time limit plus start-up, never the test's kill.
    proc = subprocess.run(argv, capture_output=True, timeout=TIME_LIMIT + 60, env=environ, cwd=home)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode in (0, 1, 2, 3, 4), (proc.returncode, argv, env, conf, err)
    assert "Traceback" not in err and "unexpected" not in err, (argv, env, conf, err)
    assert len([line for line in err.splitlines() if line.startswith("think: error:")]) <= 1, err
    if proc.returncode == 0 and "--json" not in switches:
        assert proc.stdout.strip(), (argv, err)
    if proc.returncode == 0 and "--json" in switches:
        doc = json.loads(proc.stdout)
        assert doc["cost_usd"] is None or math.isfinite(doc["cost_usd"]), doc
