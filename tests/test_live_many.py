"""The live view for many samples: rows, early answers, tally, path; rendered from scripted
events, and as a person sees it with the real model on a pseudo-terminal."""

from __future__ import annotations

import io
import os

import pytest
from rich.console import Console

from tests.conftest import ANSI, run_in_pty
from thinkcli.answers import EarlyAnswer, vote_key
from thinkcli.events import (
    AnswerSeen,
    Generation,
    RoundStarted,
    SampleDone,
    SampleStarted,
    Spend,
    Token,
    Usage,
    VerifyDone,
    Vote,
)
from thinkcli.ui.live import LiveRenderer
from thinkcli.verify.base import Verdict


def screen_of(renderer: LiveRenderer, width: int = 100) -> str:
    out = Console(file=io.StringIO(), width=width, height=40, force_terminal=False, color_system=None)
    out.print(renderer.render())
    return out.file.getvalue()


@pytest.fixture
def live():
    r = LiveRenderer(console=Console(file=io.StringIO(), width=100, height=40), clock=lambda: 10.0)
    yield r
    r.stop()


def stream(r: LiveRenderer, i: int, *pieces: str, label: str = "vote") -> None:
    """A sample's events as the engine's Meter sends them: tokens, and AnswerSeen once its line is complete."""
    r.emit(SampleStarted(i, label))
    spot = EarlyAnswer()
    for p in pieces:
        r.emit(Token(i, p))
        seen = spot.feed(p)
        if seen is not None:
            r.emit(AnswerSeen(i, seen, vote_key(seen)))


def test_rows_show_each_samples_newest_text_tokens_and_answer(live):
    stream(live, 0, "7 + 5 is 12.", "\nFinal answer:", " 12", "\n")
    stream(live, 1, "Hmm, 7 + 5", " = 13")
    stream(live, 2, "Final answer: 12")
    text = screen_of(live)
    rows = [line for line in text.splitlines() if line.startswith("#")]
    assert [r.split()[0] for r in rows] == ["#0", "#1", "#2"]
    assert "4 tok" in rows[0] and "→ 12" in rows[0]  # known once its line ended, before SampleDone
    assert "Hmm, 7 + 5 = 13" in rows[1] and "→" not in rows[1]
    assert "→" not in rows[2]  # the line is not finished yet
    assert "0/3 samples done" in text


def test_tally_confidence_verdicts_and_path(live):
    live.emit(RoundStarted("probe ×3"))
    for i, ans in enumerate(["12", "13", "12"]):
        stream(live, i, f"Final answer: {ans}", label="probe")
        live.emit(Generation(i, f"Final answer: {ans}", Usage(20, 3)))
        live.emit(SampleDone(i, ans, Usage(20, 3)))
    live.emit(Vote({"12": 2, "13": 1}, "12", 0.6875))
    live.emit(RoundStarted("verify"))
    live.emit(VerifyDone(0, Verdict(False, 0.0, "1 failed")))
    text = screen_of(live)
    assert "votes (3): 12×2  13×1  leader 12 · confidence 69%" in text
    assert "path: probe ×3 → verify" in text
    assert "failed: 1 failed" in text
    assert "60 prompt + 3 completion tokens" in text and "3/3 samples done" in text
    assert "→ 13" in [line for line in text.splitlines() if line.startswith("#1")][0]


def test_status_shows_the_cost_so_far(live):
    stream(live, 0, "Final answer: 4")
    stream(live, 1, "Final answer:")
    assert "$" not in screen_of(live)  # nothing is spent until a sample finishes
    live.emit(Spend(Usage(120, 30), 0.000345))
    assert "$0.0003 so far" in screen_of(live)
    live.emit(Spend(Usage(240, 60), None))
    assert "cost n/a" in screen_of(live)


def test_many_samples_keep_the_newest_rows(live):
    for i in range(20):
        stream(live, i, f"sample {i}")
    text = screen_of(live)
    rows = [line.split()[0] for line in text.splitlines() if line.lstrip().startswith("#")]
    assert rows == [f"#{i}" for i in range(4, 20)]
    assert "… 4 earlier samples not shown" in text


@pytest.mark.model
def test_many_sample_view_on_a_real_terminal(tmp_path, embedded_model):
    env = {**os.environ, "THINK_CONFIG_DIR": str(tmp_path), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    env.pop("PRE_COMMIT", None)
    status, screen, out = run_in_pty(
        ["--strategy", "auto", "-n", "4", "--max-tokens", "20", "--seed", "5", "-t", "1.0", "What is 2 + 3?"], env,
        rows=30, cols=100,
    )
    assert status == 0, screen
    assert ANSI.search(screen), "a terminal gets the Rich live view"
    text = ANSI.sub("", screen)
    for row in ("#0 probe", "#1 probe"):
        assert row in text, text[-3000:]
    assert "votes (" in text and "confidence" in text, "the running tally"
    assert "path: probe ×2" in text, "the escalation path"
    assert "samples done" in text and "completion tokens" in text
    assert out.decode().strip(), "the answer still goes to stdout"
    # the summary is the last thing printed; a long vote list may wrap it over two lines
    summary = text[text.rindex("\ntokens "):]
    assert "samples" in summary and "$0.0000 local" in summary, summary
