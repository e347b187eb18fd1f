"""The live view as a person sees it: stderr is a real pseudo-terminal."""

from __future__ import annotations

import os

import pytest

from tests.conftest import ANSI, run_in_pty

pytestmark = pytest.mark.model


def test_live_view_streams_reasoning_and_ends_with_the_summary(tmp_path):
    env = {**os.environ, "THINK_CONFIG_DIR": str(tmp_path), "TERM": "xterm-256color", "COLUMNS": "80"}
    env.pop("NO_COLOR", None)
    env.pop("PRE_COMMIT", None)
    status, screen, out = run_in_pty(
        ["--max-tokens", "60", "--seed", "2", "--temperature", "0.9", "Write two sentences about rivers."], env
    )
    assert status == 0, screen
    assert ANSI.search(screen), "a terminal gets the Rich live view (escape codes)"
    text = ANSI.sub("", screen)
    assert "thinking…" in text, "the panel is shown while the model streams"
    assert "tok/s" in text, "the status line shows tokens per second"
    assert "tokens" in text and "$0.0000 local" in text and "1 sample" in text, "the summary line"
    # the streamed text shows up on the screen: the answer's first words appear in the panel
    answer = out.decode().strip()
    assert answer
    first_words = " ".join(answer.split()[:3])
    assert first_words in " ".join(text.split()), (first_words, text[-2000:])
    # the panel was redrawn as tokens arrived, not painted once at the end
    assert screen.count("thinking…") >= 2


@pytest.mark.parametrize("opt_out", [{"NO_COLOR": "1"}, {"TERM": "dumb"}, {"PRE_COMMIT": "1"}])
def test_opt_outs_disable_the_live_view_on_a_terminal(tmp_path, opt_out):
    env = {**os.environ, "THINK_CONFIG_DIR": str(tmp_path), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    env.pop("PRE_COMMIT", None)
    env.update(opt_out)
    status, screen, out = run_in_pty(["--max-tokens", "8", "--seed", "1", "Say hi."], env)
    assert status == 0, screen
    assert not ANSI.search(screen), screen
    assert "thinking…" not in screen
    assert "$0.0000 local" in screen  # the summary line still comes


def _final_frame(text: str, answer: str) -> str:
    """Drive a LiveRenderer on an in-memory terminal through one sample; return the last frame."""
    import io

    from rich.console import Console

    from thinkcli.events import Final, SampleDone, SampleStarted, Token, Usage
    from thinkcli.ui.live import LiveRenderer

    console = Console(file=io.StringIO(), force_terminal=True, width=80, color_system=None)
    live = LiveRenderer(console=console)
    live.emit(SampleStarted(0))
    for word in text.split(" "):
        live.emit(Token(0, word + " "))
    live.emit(SampleDone(0, answer, Usage(5, 3)))
    from types import SimpleNamespace

    live.emit(Final(SimpleNamespace(answer=answer, local=True, cost_usd=0.0)))
    frame = Console(file=io.StringIO(), width=80, color_system=None)
    frame.print(live.render())
    return frame.file.getvalue()


def test_final_frame_does_not_repeat_a_whole_reply_answer():
    frame = _final_frame("Rivers flow to the sea.", "Rivers flow to the sea.")
    assert "Rivers flow" not in frame and "╭" not in frame  # stdout prints it next
    assert "tokens" in frame


def test_final_frame_keeps_the_reasoning_of_a_marked_answer():
    frame = _final_frame("3 and 4 make 7.\nFinal answer: 7", "7")
    assert "answer: 7" in frame and "3 and 4 make 7." in frame
