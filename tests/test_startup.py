"""What `think batch` loads at start-up, and that the quick option checks agree with typer's.

cli_coerce.py settles plainly valid option values without typer's pydantic adapters; these
tests compare it with typer's own coercion for every option of every command, and run the
real CLI against the fault server to see which heavy modules a remote batch still imports.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.faultserver import FaultServer

RAW = ["", "0", "1", "7", "16", "256", "257", "-1", "-0", "007", "+3", "1_000", " 5", "5 ", "1.5", "0.95", "1e3",
       "nan", "inf", "abc", "low", "LOW", "medium", "high", "auto", "cot", "vote", "direct", "steps", "9" * 30,
       "1." + "5" * 30, "0.0", "5.0", "5.00001"]


def _typer_params():
    import typer.main

    import thinkcli.cli  # noqa: F401 (registers every command)
    from thinkcli.cli_app import app

    stack, found = [typer.main.get_command(app)], []
    while stack:
        cmd = stack.pop()
        stack.extend(getattr(cmd, "commands", {}).values())
        found += [(cmd, p) for p in cmd.params if getattr(p, "type_descriptor", None) is not None]
    return found


def _typer_says(command, param, value):
    from typer._click import Context
    from typer._coercion import build_runtime_param

    try:
        return ("value", build_runtime_param(param.type_descriptor).coerce(value, param=param, ctx=Context(command)))
    except Exception as exc:  # typer's error, as the user would see it
        return ("error", str(exc))


def test_quick_checks_give_typers_value_or_leave_it_to_typer():
    pytest.importorskip("typer._coercion")
    from typer._param_types import coerce_cli_choice

    from thinkcli.cli_coerce import _SLOW, quick

    params = _typer_params()
    assert len(params) > 100  # every command's options, so a new option type is compared too
    settled = 0
    for command, param in params:
        for raw in [*RAW, ("a", "b"), ["x"], (), True, False, 3, 2.5]:
            if isinstance(raw, (tuple, list)) != (param.multiple or param.nargs == -1):
                continue
            mine = quick(param.type_descriptor, raw, None, coerce_cli_choice)
            if mine is _SLOW:
                continue
            settled += 1
            kind, theirs = _typer_says(command, param, raw)
            where = f"{command.name} {param.name} {raw!r}"
            assert kind == "value", f"{where}: typer refuses it ({theirs}) but the quick check took it"
            assert (type(mine), mine) == (type(theirs), theirs), where
    assert settled > 200  # the quick path really settles the common cases


def test_a_plainly_wrong_value_still_gets_typers_message(think):
    proc = think("batch", "missing.jsonl", "--concurrency", "0")
    assert proc.returncode == 2
    assert "Invalid value for '--concurrency' / '-c': Input should be greater than or equal to 1" in proc.stderr.decode()
    proc = think("batch", "missing.jsonl", "--effort", "max")
    assert proc.returncode == 2
    assert "'max' is not one of 'low', 'medium', 'high', 'auto'" in proc.stderr.decode()


PROBE = """
import json, sys
sys.argv = ["think", *sys.argv[1:]]
from thinkcli import cli
try:
    cli.main()
except SystemExit as done:
    code = done.code
heavy = ("pydantic", "click", "pygments", "rich", "httpcore", "anyio", "llama_cpp")
print(json.dumps({"code": code, "loaded": sorted(m for m in heavy if m in sys.modules)}), file=sys.stderr)
"""


@pytest.mark.server
def test_a_remote_batch_loads_none_of_the_heavy_modules_it_does_not_use(tmp_path):
    srv = FaultServer().start()
    try:
        src = tmp_path / "q.jsonl"
        src.write_text("".join(json.dumps({"question": f"What is {k} + 1?"}) + "\n" for k in range(3)))
        proc = subprocess.run(
            [sys.executable, "-c", PROBE, "batch", str(src), "-o", str(tmp_path / "a.jsonl"), "--effort", "low",
             "-m", "openai:fault-model", "--base-url", srv.url, "--max-tokens", "16"],
            capture_output=True, text=True, cwd=ROOT, timeout=120)
    finally:
        srv.stop()
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, proc.stderr
    assert len((tmp_path / "a.jsonl").read_text().splitlines()) == 3
    # typer's option checks (pydantic), httpx's own CLI (click, pygments, rich), httpx's
    # transport (the plain-HTTP path has its own), the local model's runtime
    assert report["loaded"] == []
