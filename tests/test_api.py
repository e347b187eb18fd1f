"""The library face: thinkcli.run / stream / load_model / build_request and the plugin tables.

Algorithms run on the scripted FakeBackend (as an object and as ``fake:NAME`` through
``register_backend``); a plugin is installed for real as a dist-info on sys.path and
reached by ``think -m`` in a subprocess; the embedded model is loaded once and reused.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

import thinkcli
from tests.conftest import FakeBackend, Reply
from thinkcli import events
from thinkcli.errors import ExitStatus, ThinkError, UsageError


def test_run_returns_the_result_with_answer_usage_votes_and_candidates(fake, capsys):
    fake.enqueue("Final answer: 391", "Final answer: 392", "so Final answer: 391")
    result = thinkcli.run("What is 17 * 23?", effort="medium", model=fake, samples=3, confidence=1.0)
    assert isinstance(result, thinkcli.Result)
    assert result.answer == "391" and result.votes == {"391": 2, "392": 1}
    assert result.usage.completion_tokens == 3 + 3 + 4 and result.cost_usd == 0.0
    assert [c.answer for c in result.candidates] == ["391", "392", "391"]
    assert result.as_dict()["answer"] == "391" and result.as_dict()["plan"]["samples"] == 3
    assert not fake.closed, "a backend the caller passed is left open for the next run"
    assert capsys.readouterr() == ("", ""), "no API call prints anything"


def test_on_event_gets_the_events_the_live_view_draws(fake):
    fake.enqueue("7 + 5\nFinal answer: 12\n", "Final answer: 12")
    seen: list = []
    result = thinkcli.run("7 + 5?", model=fake, strategy="vote", samples=2, on_event=seen.append)
    kinds = {type(e) for e in seen}
    assert {events.SampleStarted, events.Token, events.AnswerSeen, events.SampleDone, events.Vote,
            events.Final} <= kinds
    assert seen[-1] == events.Final(result)
    early = next(e for e in seen if isinstance(e, events.AnswerSeen))
    assert (early.sample, early.answer, early.key) == (0, "12", "12")
    assert seen.index(early) < next(i for i, e in enumerate(seen) if isinstance(e, events.SampleDone))


def test_a_model_reference_goes_through_the_registered_backend_table(fake, fake_models):
    fake_models.backends["tiny"] = fake.enqueue("Final answer: 4")
    result = thinkcli.run("2 + 2?", model="fake:tiny")
    assert result.answer == "4" and fake_models.loaded == ["tiny"]
    assert fake.closed, "a model the run loaded itself is closed at the end"


def test_keywords_beat_environment_beats_config_beats_defaults(isolated_config, monkeypatch):
    (isolated_config / "config.toml").write_text('samples = 3\nmax_tokens = 100\ntemperature = 0.2\nmodel = "fake:x"\n')
    monkeypatch.setenv("THINK_SAMPLES", "4")
    monkeypatch.setenv("THINK_MAX_TOKENS", "200")
    r = thinkcli.build_request("q", samples=5)
    assert (r.samples, r.max_tokens, r.temperature, r.model, r.effort) == (5, 200, 0.2, "fake:x", "low")
    assert r.verify_timeout == 60.0 and r.budgets == thinkcli.Budgets()
    r = thinkcli.build_request("q", max_total_tokens=50, judge_model="fake:j", threads=2, rounds=3)
    assert r.budgets.max_total_tokens == 50 and r.judge and r.settings["threads"] == 2
    assert r.plan_overrides == {"rounds": 3}


@pytest.mark.parametrize("options, message", [
    ({"sample": 3}, "unknown option 'sample'"),
    ({"samples": 0}, "samples must be a number from 1 to 256, got 0"),
    ({"temperature": "hot"}, "temperature must be float"),
    ({"effort": "max"}, "effort must be one of low, medium, high, auto"),
    ({"strategy": "nope"}, "unknown strategy 'nope'"),
    ({"verify": " "}, "--verify needs a command"),
])
def test_bad_options_are_usage_errors_before_any_work(fake, options, message):
    with pytest.raises(UsageError, match=message) as err:
        thinkcli.run("q", model=fake, **options)
    assert err.value.status == ExitStatus.USAGE and fake.calls == []


def test_errors_carry_their_exit_status(fake_models):
    with pytest.raises(thinkcli.ModelUnavailable) as err:
        thinkcli.run("q", model="fake:missing")
    assert isinstance(err.value, ThinkError) and err.value.status == ExitStatus.UNAVAILABLE
    with pytest.raises(UsageError):
        thinkcli.run("q", model=object())


def test_stream_yields_events_and_ends_with_final(fake):
    fake.enqueue("Final answer: 9")
    got = list(thinkcli.stream("3 * 3?", model=fake))
    assert isinstance(got[0], events.SampleStarted) and isinstance(got[-1], events.Final)
    assert got[-1].result.answer == "9"
    assert [e.text for e in got if isinstance(e, events.Token)] == ["Final", " answer:", " 9"]


def _slow(call, i):  # a long reply, so a run is still streaming when the test stops it
    return Reply(" ".join(["step"] * 2000) + " Final answer: 1")


class SlowFake(FakeBackend):
    def _stream(self, call, prompt_tokens):
        for event in super()._stream(call, prompt_tokens):
            time.sleep(0.001)
            yield event


def _stream_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "thinkcli-stream"]


def test_closing_the_stream_cancels_the_run_and_leaves_no_thread():
    slow = SlowFake(responder=_slow)
    gen = thinkcli.stream("q", model=slow, strategy="vote", samples=4, max_tokens=4000)
    tokens = 0
    for event in gen:
        tokens += isinstance(event, events.Token)
        if tokens == 20:
            break
    gen.close()
    assert _stream_threads() == []
    assert len(slow.calls) == 1, "cancelled during the first round"


def test_an_abandoned_stream_is_cancelled_when_collected():
    import gc

    slow = SlowFake(responder=_slow)
    gen = thinkcli.stream("q", model=slow, max_tokens=4000)
    next(gen)
    del gen
    gc.collect()
    assert _stream_threads() == []


def test_stream_raises_the_runs_failure_in_the_callers_thread(fake_models):
    with pytest.raises(thinkcli.ModelUnavailable):
        list(thinkcli.stream("q", model="fake:missing"))
    with pytest.raises(UsageError, match="unknown option"):
        thinkcli.stream("q", bogus=1)
    assert _stream_threads() == []


def test_cancel_stops_like_ctrl_c_with_the_best_answer_so_far():
    slow = SlowFake(responder=lambda call, i: Reply("Final answer: 8") if i < 2 else _slow(call, i))
    cancel = threading.Event()

    def on_event(event):
        if isinstance(event, events.SampleDone) and event.sample == 1:
            cancel.set()

    result = thinkcli.run("q", model=slow, strategy="vote", samples=5, confidence=1.0, on_event=on_event,
                          cancel=cancel, max_tokens=4000)
    assert result.interrupted and result.answer == "8"
    assert result.usage.completion_tokens < 2 * 3 + 2000, "the third sample was cut short"


def test_one_backend_object_serves_runs_in_several_threads(fake):
    fake.responder = lambda call, i: "Final answer: 5"
    results = []
    threads = [threading.Thread(target=lambda: results.append(thinkcli.run("q", model=fake))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.answer for r in results] == ["5"] * 4 and len(fake.calls) == 4


def test_register_strategy_uses_the_table_the_builtins_use(fake):
    from thinkcli.strategies import STRATEGIES, StrategySpec
    from thinkcli.strategies.base import Outcome, to_candidate

    def echo(problem, plan, meter, verifier, sink):
        [gen] = meter.draw(problem.messages("direct"), plan.params(), 1)
        cand = to_candidate(gen, sink)
        return Outcome(cand.answer.upper(), [cand], chosen=cand.sample)

    thinkcli.register_strategy("echo", StrategySpec(echo, uses_samples=False))
    try:
        fake.enqueue("Final answer: yes")
        assert thinkcli.run("q", model=fake, strategy="echo").answer == "YES"
        assert STRATEGIES["echo"].uses_samples is False
    finally:
        del STRATEGIES["echo"]


def test_import_thinkcli_loads_nothing_until_a_name_is_used():
    code = ("import sys, thinkcli\n"
            "print(sorted(m for m in sys.modules if m.startswith('thinkcli')))\n"
            "thinkcli.run\n"
            "print('thinkcli.api' in sys.modules, 'llama_cpp' in sys.modules, 'httpx' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    first, second = out.splitlines()
    assert first == "['thinkcli']"
    assert second == "True False False"
    assert set(thinkcli.__all__) >= {"run", "stream", "load_model", "build_request", "Request", "Result", "events",
                                     "register_backend", "register_strategy", "ThinkError", "ExitStatus"}


PLUGIN = '''
from tests.conftest import FakeBackend


def factory(ref, settings):
    return FakeBackend(model="echo-" + ref.name, responder=lambda call, i: "Final answer: " + ref.name)


def shout(problem, plan, meter, verifier, sink):
    from thinkcli.strategies.base import Outcome, to_candidate

    [gen] = meter.draw(problem.messages("direct"), plan.params(), 1)
    cand = to_candidate(gen, sink)
    return Outcome(cand.answer.upper() + "!", [cand], chosen=cand.sample)
'''


def test_an_installed_plugin_registers_through_entry_points(tmp_path, think):
    """A real distribution on sys.path: its entry points add a scheme and a strategy for ``think``."""
    (tmp_path / "echo_plugin.py").write_text(PLUGIN)
    info = tmp_path / "echo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""\
        [thinkcli.backends]
        echo = echo_plugin:factory

        [thinkcli.strategies]
        shout = echo_plugin:shout
        """))
    import os

    from tests.conftest import ROOT

    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    r = think("-m", "echo:hello", "--json", "say hi", env=env)
    assert r.returncode == 0, r.stderr
    assert b'"answer": "hello"' in r.stdout and b'"model": "echo-hello"' in r.stdout
    r = think("-m", "echo:yes", "--strategy", "shout", "q", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == "YES!"
    r = think("-m", "echo:yes", "--strategy", "whisper", "q", env=env)
    assert r.returncode == 2 and b"whisper" in r.stderr  # not installed: still a usage error
    code = ("import thinkcli\n"
            "print(thinkcli.run('q', model='echo:yes', strategy='shout').answer)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "YES!"


@pytest.mark.model
def test_load_model_once_and_reuse_it_across_runs(embedded_model, capfd):
    backend = thinkcli.load_model("embedded", threads=2)
    try:
        first = thinkcli.run("What is 2 + 2?", model=backend, max_tokens=16, temperature=0.0)
        second = thinkcli.run("What is 3 + 3?", model=backend, max_tokens=16, temperature=0.0)
        assert first.model == second.model == backend.model
        assert first.usage.completion_tokens > 0 and second.usage.completion_tokens > 0
        assert first.candidates[0].text != second.candidates[0].text
        again = thinkcli.run("What is 2 + 2?", model=backend, max_tokens=16, temperature=0.0)
        assert again.candidates[0].text == first.candidates[0].text, "greedy and reused: the same text"
    finally:
        backend.close()
    assert capfd.readouterr() == ("", ""), "nothing printed, not even by llama.cpp"


def _readme_section(title: str) -> str:
    from tests.conftest import ROOT

    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def _blocks(section: str, lang: str) -> list[str]:
    import re

    return re.findall(rf"```{lang}\n(.*?)```", section, re.S)


def test_readme_plugin_entry_points_are_valid_toml():
    from thinkcli.config import tomllib

    [block] = _blocks(_readme_section("Python API"), "toml")
    tables = tomllib.loads(block)["project"]["entry-points"]
    assert set(tables) == {"thinkcli.backends", "thinkcli.strategies"}


@pytest.mark.model
def test_every_python_api_example_in_the_readme_runs(embedded_model, capsys):
    """The README's examples, run in order in one namespace, on the embedded model."""
    blocks = _blocks(_readme_section("Python API"), "python")
    assert len(blocks) >= 5
    namespace: dict = {}
    from thinkcli.strategies import STRATEGIES

    try:
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
    finally:
        STRATEGIES.pop("first-line", None)
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[0].isdigit() or out[0].startswith("None"), out
    assert "USAGE samples must be a number from 1 to 256, got 0" in out
    assert any(line.startswith("answer:") for line in out)
    assert "True 1" in out, "the cancelled run stopped after its first token"
