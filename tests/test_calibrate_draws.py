"""`think calibrate --draw FILE`: a draw saved as it goes, resumed after Ctrl-C or a failure to
exactly the draw an unbroken run makes, and refused when a run asks for another draw."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import FakeBackend
from tests.faultserver import FaultServer
from thinkcli import draws
from thinkcli.backends.base import GenParams
from thinkcli.bench import Item


def items(count: int) -> list[Item]:
    return [Item(f"What is {k} + 1?", str(k + 1), id=f"d:{k + 1}", kind="ab"[k % 2]) for k in range(count)]


def seeded(call, i) -> str:
    """A reply that depends on the sample's seed, so a sample drawn with the wrong seed shows."""
    return f"Final answer: {(call.params.seed + i) % 5 if call.params.temperature else 0}"


def draw_args(n: int = 2, styles: tuple[str, ...] = ("direct", "program")) -> dict:
    return dict(model="fake:m", data="d", model_key="model:fake", samples=n, styles=list(styles),
                temperature=0.4, max_tokens=16, seed=3)


def same_samples(a: draws.Draw, b: draws.Draw) -> bool:
    return [(q.id, q.samples, q.greedy) for q in a.questions] == [(q.id, q.samples, q.greedy) for q in b.questions]


def test_an_interrupted_draw_resumes_to_the_same_draw_and_redraws_only_what_is_missing():
    qs = items(3)
    whole = FakeBackend()
    whole.responder = seeded
    unbroken = draws.fill(draws.start(qs, **draw_args()), qs, whole)
    assert unbroken.complete and len(whole.calls) == 12  # 3 questions x 2 styles x (a batch, a greedy sample)

    first = FakeBackend()

    def stops_at_the_fifth_call(call, i):
        if len(first.calls) == 5:  # question 3's batch of the direct style
            raise KeyboardInterrupt
        return seeded(call, i)

    first.responder = stops_at_the_fifth_call
    partial = draws.start(qs, **draw_args())
    saved: list[int] = []
    with pytest.raises(KeyboardInterrupt):
        draws.fill(partial, qs, first, checkpoint=lambda d: saved.append(d.pending))
    assert saved == [5, 4] and partial.pending == 4 and not partial.complete
    # saved and loaded, then resumed by another backend: only the four missing pairs are drawn
    again = draws.Draw.from_json(partial.to_json())
    rest = FakeBackend()
    rest.responder = seeded
    draws.fill(again, qs, rest)
    assert [(c.params.seed, c.n, c.params.temperature) for c in rest.calls] == [
        (2003, 2, 0.4), (2003, 1, 0.0), (3, 2, 0.4), (3, 1, 0.0), (1003, 2, 0.4), (1003, 1, 0.0),
        (2003, 2, 0.4), (2003, 1, 0.0)]
    assert again.complete and same_samples(again, unbroken)


@pytest.mark.model
def test_a_resumed_draw_on_the_embedded_model_is_the_unbroken_draw_sample_for_sample(embedded_model):
    from thinkcli.backends.llama import LlamaBackend

    qs = [Item("Tom has 17 apples and buys 28 more. How many apples does he have?", "45", id="w:1", kind="w"),
          Item("A train goes 60 km an hour for 3 hours. How far does it go, in km?", "180", id="w:2", kind="w")]
    args = dict(draw_args(3), max_tokens=24, temperature=0.8)
    backend = LlamaBackend(embedded_model)
    try:
        unbroken = draws.fill(draws.start(qs, **args), qs, backend)

        class StopsAtTheThirdCall:  # question 2's batch in the direct style, as a Ctrl-C would
            def __init__(self):
                self.calls = 0

            def generate(self, messages, params, n=1):
                self.calls += 1
                if self.calls == 3:
                    raise KeyboardInterrupt
                return backend.generate(messages, params, n)

            def forget(self):
                backend.forget()

        partial = draws.start(qs, **args)
        with pytest.raises(KeyboardInterrupt):
            draws.fill(partial, qs, StopsAtTheThirdCall())
        # Something else is decoded before the resume, with the style's long system prompt
        # in common: the KV cache now holds another history than the unbroken run's.
        list(backend.generate([{"role": "system", "content": "x " * 200}, {"role": "user", "content": "Hi"}],
                              GenParams(max_tokens=8, temperature=0.8, seed=1), 2))
        resumed = draws.fill(draws.Draw.from_json(partial.to_json()), qs, backend)
    finally:
        backend.close()
    assert resumed.complete and same_samples(resumed, unbroken)


def test_questions_drawn_side_by_side_make_the_same_draw_and_the_first_error_stops_it():
    qs = items(6)
    one = FakeBackend()
    one.responder = seeded
    alone = draws.fill(draws.start(qs, **draw_args()), qs, one)
    many = FakeBackend()
    many.responder = seeded
    together = draws.fill(draws.start(qs, **draw_args()), qs, many, concurrency=3)
    assert same_samples(together, alone) and len(many.calls) == len(one.calls) == 24

    # question 4 fails while question 5 is in flight; question 5 finishes after the draw stopped
    failing = FakeBackend()
    in_flight, released = threading.Event(), threading.Event()

    def fails_on_question_4(call, i):
        if call.params.seed == 3 + 4000 and call.params.temperature and i == 0:
            in_flight.set()
            released.wait(10)
        if call.params.seed == 3 + 3000:
            in_flight.wait(10)
            raise draws.UsageError("the server said no")
        return seeded(call, i)

    failing.responder = fails_on_question_4
    partial = draws.start(qs, **draw_args())
    with pytest.raises(draws.UsageError, match="the server said no"):
        draws.fill(partial, qs, failing, concurrency=2)
    saved = partial.to_json()
    released.set()
    for thread in threading.enumerate():
        if thread.name.startswith("think-draw"):
            thread.join(10)
    assert sum(c.params.seed == 4003 for c in failing.calls) == 2  # question 5 did finish drawing...
    assert partial.to_json() == saved  # ...but the stopped draw did not take it
    drawn = [q.id for q in partial.questions if "direct" in q.greedy]
    assert "d:4" not in drawn and "d:5" not in drawn and 3 <= len(drawn) < 6
    assert not any("program" in q.greedy for q in partial.questions)


def test_a_budget_starts_a_question_only_when_its_worst_case_fits_and_books_what_it_spent():
    from thinkcli.jobs.budget import Ledger, Need

    qs = items(4)
    fake = FakeBackend()
    fake.responder = seeded
    two = draws.Budget(Ledger(max_tokens=10_000), lambda item: Need(100))
    draws.fill(draws.start(qs[:2], **draw_args(styles=("direct",))), qs[:2], fake, budget=two)
    spent = two.ledger.spent_tokens  # what the first two questions really spend
    assert spent > 0 and two.ledger.reserved_tokens == 0
    # room for their spending and then a worst case (100 tokens) less one token: the third is refused
    fake.calls.clear()
    budget = draws.Budget(Ledger(max_tokens=spent + 99), lambda item: Need(100))
    partial = draws.start(qs, **draw_args(styles=("direct",)))
    with pytest.raises(draws.BudgetReached, match=rf"--max-total-tokens budget \({spent + 99}, {spent} spent\)"):
        draws.fill(partial, qs, fake, budget=budget)
    assert [q.id for q in partial.questions if q.greedy] == ["d:1", "d:2"] and len(fake.calls) == 4
    assert budget.ledger.reserved_tokens == 0
    # the same draw goes on under a new budget, 3 at once, and finishes
    draws.fill(partial, qs, fake, concurrency=3, budget=draws.Budget(Ledger(max_tokens=10_000), lambda item: Need(100)))
    assert partial.complete


def test_a_draw_goes_on_only_over_the_questions_it_began_with():
    partial = draws.start(items(3), **draw_args())
    with pytest.raises(draws.UsageError, match="not the ones the draw was started on"):
        draws.fill(partial, items(2), FakeBackend())
    other = [Item("What is 9 + 9?", "18", id="d:1"), *items(3)[1:]]
    with pytest.raises(draws.UsageError, match="not the ones the draw was started on"):
        draws.fill(partial, other, FakeBackend())


def test_save_replaces_the_file_whole_and_an_unwritable_path_is_a_usage_error(tmp_path):
    path = tmp_path / "draw.json"
    d = draws.start(items(2), **draw_args())
    draws.save(d, path)
    assert draws.load(path).fingerprint == d.fingerprint and os.listdir(tmp_path) == ["draw.json"]
    with pytest.raises(draws.UsageError, match="cannot write the draw"):
        draws.save(d, tmp_path / "missing" / "draw.json")


# -- through the CLI, against a real server -------------------------------------------


def replying_by_seed(body: dict, number: int) -> str:
    return f"Final answer: {(body.get('seed') or 0) % 3 + 1}"


@pytest.fixture
def server():
    srv = FaultServer(reply=replying_by_seed).start()
    yield srv
    srv.stop()


@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps({"question": f"What is {k} + 1?", "answer": str(k + 1), "kind": "ab"[k % 2]}) + "\n"
                            for k in range(4)))
    return path


def calibrate_args(data: Path, draw: Path, *more: str) -> list[str]:
    """One question at a time unless ``more`` says otherwise, so which pairs a stop keeps is known."""
    return ["calibrate", str(data), "-m", "openai:fault-model", "--samples", "2", "--styles", "direct",
            "--max-tokens", "8", "--holdout", "0.5", "--draw", str(draw), "--no-save", "--json",
            *(more if "--concurrency" in more else ("--concurrency", "1", *more))]


def test_a_failed_draw_keeps_what_it_drew_and_the_same_command_finishes_it(think, server, data, tmp_path, isolated_config):
    env = {"THINK_BASE_URL": server.url}
    straight = think(*calibrate_args(data, tmp_path / "straight.json"), env=env)
    assert straight.returncode == 0, straight.stderr.decode()

    server.fault_when = lambda body: {"status": 400} if "What is 2 + 1?" in json.dumps(body) else None
    draw = tmp_path / "draw.json"
    failed = think(*calibrate_args(data, draw), env=env)
    err = failed.stderr.decode()
    assert failed.returncode == 1 and len(err.strip().splitlines()) == 1, err
    assert f"2 of 4 question and style pairs drawn are saved in {draw}: run the same command to resume" in err
    assert draws.load(draw).pending == 2
    served = len(server.completion_requests())

    server.fault_when = None
    resumed = think(*calibrate_args(data, draw), env=env)
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert json.loads(resumed.stdout)["chosen"] == json.loads(straight.stdout)["chosen"]
    assert same_samples(draws.load(draw), draws.load(tmp_path / "straight.json"))
    asked = [json.dumps(r["body"]) for r in server.completion_requests()[served:]]
    assert not any("What is 0 + 1?" in a or "What is 1 + 1?" in a for a in asked)  # the first two were kept


def test_a_remote_draw_runs_questions_at_once_and_is_the_same_draw(think, server, data, tmp_path, isolated_config):
    env = {"THINK_BASE_URL": server.url}
    alone = think(*calibrate_args(data, tmp_path / "alone.json", "--concurrency", "1"), env=env)
    assert alone.returncode == 0, alone.stderr.decode()
    assert server.peak_in_flight == 1
    server.delay, server.peak_in_flight = 1.0, 0  # long enough that a busy machine's jitter is noise
    together = think(*calibrate_args(data, tmp_path / "together.json", "--concurrency", "4"), env=env)
    assert together.returncode == 0, together.stderr.decode()
    assert server.peak_in_flight == 4  # the 4 questions' batched calls at once
    assert same_samples(draws.load(tmp_path / "together.json"), draws.load(tmp_path / "alone.json"))
    assert json.loads(together.stdout)["chosen"] == json.loads(alone.stdout)["chosen"]


def test_a_spend_cap_stops_a_remote_draw_before_it_could_overspend(think, server, data, tmp_path, isolated_config):
    env = {"THINK_BASE_URL": server.url}
    draw = tmp_path / "draw.json"
    proc = think(*calibrate_args(data, draw, "--max-cost", "1"), env=env)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "no price is known for model openai:fault-model" in err, err
    assert server.completion_requests() == [] and not draw.exists()
    (isolated_config / "prices.toml").write_text('[models."fault-model"]\ninput = 1.0\noutput = 2.0\n')
    server.usage = {"prompt_tokens": 100, "completion_tokens": 8}  # per request: a question's 2 spend 216 tokens
    # A question's worst case is 3 calls x (1.5 x its ~4 prompt tokens + a 128-token template + 8): about
    # 426 tokens, $0.00045. After two questions ($0.00046 spent) a third could pass $0.0008; the second fits.
    for cap, spent in (("--max-cost", "$0.0008, $0.0005 spent"), ("--max-total-tokens", "700, 432 spent")):
        draw.unlink(missing_ok=True)
        asked = len(server.completion_requests())
        proc = think(*calibrate_args(data, draw, cap, cap == "--max-cost" and "0.0008" or "700"), env=env)
        err = proc.stderr.decode()
        assert proc.returncode == 1 and len(err.strip().splitlines()) == 1, err
        assert f"the {cap} budget ({spent})" in err and "has no room for the next question's worst case" in err, err
        assert f"2 of 4 question and style pairs drawn are saved in {draw}" in err
        assert draws.load(draw).pending == 2 and len(server.completion_requests()) - asked == 4  # none past the cap
    resumed = think(*calibrate_args(data, draw, "--max-total-tokens", "100000"), env=env)
    assert resumed.returncode == 0, resumed.stderr.decode()


def test_ctrl_c_saves_the_unfinished_draw_and_exits_130(server, data, tmp_path, isolated_config):
    server.delay = 0.3
    draw = tmp_path / "draw.json"
    proc = subprocess.Popen([sys.executable, "-m", "thinkcli", *calibrate_args(data, draw)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "THINK_BASE_URL": server.url})
    deadline = time.monotonic() + 60
    while len(server.completion_requests()) < 3 and time.monotonic() < deadline:  # the first question is drawn
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    line = err.decode().strip()
    assert line.startswith("think: calibrate: interrupted;") and f"saved in {draw}" in line and "\n" not in line
    kept = draws.load(draw)
    assert 0 < kept.pending < 4 and out == b""
    server.delay = 0.0
    from tests.conftest import run_think

    resumed = run_think(*calibrate_args(data, draw), env={"THINK_BASE_URL": server.url})
    assert resumed.returncode == 0, resumed.stderr.decode()
    assert draws.load(draw).complete


def test_a_run_that_asks_for_another_draw_is_refused_and_the_file_is_left_alone(think, server, data, tmp_path, isolated_config):
    env = {"THINK_BASE_URL": server.url}
    draw = tmp_path / "draw.json"
    assert think(*calibrate_args(data, draw), env=env).returncode == 0
    before = draw.read_bytes()
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"question": "What is 7 + 1?", "answer": "8"}) + "\n")
    for args, message in [
        (["calibrate", str(data), "--draw", str(draw), "--samples", "3"], "holds a draw with --samples 2, not 3"),
        (["calibrate", str(data), "--draw", str(draw), "--styles", "program"], "holds a draw with --styles direct, not program"),
        (["calibrate", str(other), "--draw", str(draw)], f"holds a draw of other questions than {other}"),
        (["calibrate", str(data), "--draw", str(draw), "--limit", "2"], "holds a draw of other questions than the first 2"),
        (["calibrate", "--draw", str(draw), "-m", "openai:other"], "holds a finished draw of openai:fault-model; --model only"),
    ]:
        proc = think(*args, env=env)
        err = proc.stderr.decode()
        assert proc.returncode == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    assert draw.read_bytes() == before
    # a finished draw replays with no model and no flags: its own settings, seed and questions
    again = think("calibrate", "--draw", str(draw), "--holdout", "0.5", "--json", "--no-save")
    assert again.returncode == 0, again.stderr.decode()
    assert json.loads(again.stdout)["samples"] == 2

    # an unfinished draw goes on only with the model it began with
    server.fault_when = lambda body: {"status": 400} if "What is 2 + 1?" in json.dumps(body) else None
    partial = tmp_path / "partial.json"
    assert think(*calibrate_args(data, partial), env=env).returncode == 1
    kept = partial.read_bytes()
    proc = think(*[a if a != "openai:fault-model" else "openai:other-model" for a in calibrate_args(data, partial)], env=env)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and "is an unfinished draw of openai:fault-model, not of openai:other-model" in err, err
    proc = think(*calibrate_args(data, partial, "--seed", "9"), env=env)
    assert proc.returncode == 2 and "holds a draw with --seed 0, not 9" in proc.stderr.decode()
    assert partial.read_bytes() == kept


@pytest.mark.parametrize(("content", "message"), [
    ("my notes, not a draw", "is not a draw saved by think calibrate"),
    ("[1, 2]", "is not a draw saved by think calibrate"),
    ('{"version": 2}', "is not a draw saved by think calibrate"),
    ('{"version": 1, "questions": []}', "from another version of think calibrate"),
])
def test_a_draw_file_that_is_not_a_draw_is_never_overwritten(think, data, tmp_path, content, message):
    draw = tmp_path / "notes.json"
    draw.write_text(content)
    proc = think("calibrate", str(data), "--draw", str(draw), "-m", "fake:m")
    err = proc.stderr.decode()
    assert proc.returncode == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert draw.read_text() == content


@pytest.mark.parametrize("where", ["dir", "/dev/zero", ""])
def test_a_draw_path_that_is_no_file_is_a_usage_error_not_a_hang(think, data, tmp_path, where):
    path = {"dir": str(tmp_path)}.get(where, where)
    proc = think("calibrate", str(data), "--draw", path, "-m", "fake:m", "--samples", "2", "--styles", "direct",
                 timeout=60)
    err = proc.stderr.decode()
    assert proc.returncode == 2 and len(err.strip().splitlines()) == 1, err
    assert ("give a file name" in err) and "Traceback" not in err


@pytest.mark.parametrize("command", ["calibrate", "bench"])
def test_data_that_is_no_regular_text_file_is_one_usage_line_not_a_hang(think, tmp_path, command):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "binary.jsonl").write_bytes(b"\xff\xfe\x00\x01")
    (tmp_path / "zero-link").symlink_to("/dev/zero")
    for data, message in [("/dev/zero", "is not a regular file"), (str(fifo), "is not a regular file"),
                          (str(tmp_path / "zero-link"), "is not a regular file"), (str(tmp_path), "is a directory"),
                          (str(tmp_path / "binary.jsonl"), "is binary, not text")]:
        proc = think(command, data, "-m", "openai:fault-model", timeout=60)
        err = proc.stderr.decode()
        assert proc.returncode == 2 and message in err and len(err.strip().splitlines()) == 1, (data, err)
