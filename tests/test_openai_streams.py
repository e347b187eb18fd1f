"""The OpenAI-compatible backend against httpx.MockTransport: what comes back. Token kinds,
reasoning fields and <think> blocks, usage (reported or estimated), logprobs, a non-streaming
answer, and the SSE parser and think splitter however the text is cut."""

from __future__ import annotations

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.openai_mock import (
    MESSAGES,
    Recorder,
    backend,
    chat_chunk,
    gens,
    run,
    sse_body,
    stream,
    usage_chunk,
)
from thinkcli.backends import chunks, sse
from thinkcli.events import Token, Usage

# -- streams ----------------------------------------------------------------------


def test_answer_tokens_stream_and_usage_comes_from_the_final_chunk():
    rec = Recorder(stream(sse_body(chat_chunk("The "), chat_chunk("answer is 4."), chat_chunk(None, finish="stop"),
                                   usage_chunk(prompt=21, completion=40, reasoning=30, cached=16))))
    events = run(backend(rec))
    assert [(e.text, e.kind) for e in events if isinstance(e, Token)] == [("The ", "answer"), ("answer is 4.", "answer")]
    [g] = gens(events)
    assert g.text == "The answer is 4." and g.finish_reason == "stop"
    assert g.usage == Usage(21, 40, 30, 16, estimated=False)


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_fields_stream_as_reasoning_and_stay_out_of_the_answer(field):
    rec = Recorder(stream(sse_body(chat_chunk(**{field: "2 and 2 "}), chat_chunk(**{field: "is 4"}),
                                   chat_chunk("4", finish="stop"), usage_chunk())))
    events = run(backend(rec))
    assert [(e.text, e.kind) for e in events if isinstance(e, Token)] == [
        ("2 and 2 ", "reasoning"), ("is 4", "reasoning"), ("4", "answer")]
    [g] = gens(events)
    assert g.text == "4" and g.reasoning == "2 and 2 is 4"


def test_think_blocks_split_across_chunks_are_reasoning():
    parts = ["<thi", "nk>let me ", "see</thi", "nk>\n", "Final answer: 4"]
    rec = Recorder(stream(sse_body(*[chat_chunk(p) for p in parts], chat_chunk(None, finish="stop"), usage_chunk())))
    events = run(backend(rec))
    [g] = gens(events)
    assert g.text == "\nFinal answer: 4" and g.reasoning == "let me see"
    kinds = {e.kind for e in events if isinstance(e, Token) and "see" in e.text}
    assert kinds == {"reasoning"}


def test_without_reported_usage_tokens_are_estimated_and_marked():
    rec = Recorder(stream(sse_body(chat_chunk("<think>abcdefgh</think>"), chat_chunk("1234", finish="stop"))))
    [g] = gens(run(backend(rec)))
    prompt = "\n".join(m["content"] for m in MESSAGES)
    assert g.usage == Usage((len(prompt) + 3) // 4, 1 + 2, 2, 0, estimated=True)


def test_logprobs_are_kept_per_token():
    lp = {"content": [{"token": "4", "logprob": -0.125}]}
    rec = Recorder(stream(sse_body({"choices": [{"index": 0, "delta": {"content": "4"}, "logprobs": lp,
                                                 "finish_reason": "stop"}]}, usage_chunk())))
    b = backend(rec)
    [g] = gens(run(b))
    assert g.logprobs == [-0.125] and b.capabilities.logprobs is True



def test_a_non_streaming_json_answer_is_accepted():
    doc = {"choices": [{"index": 0, "message": {"content": "4"}, "finish_reason": "stop"}],
           "usage": {"prompt_tokens": 5, "completion_tokens": 1}}
    [g] = gens(run(backend(Recorder(httpx.Response(200, json=doc)))))
    assert g.text == "4" and g.usage == Usage(5, 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=200), max_size=8), st.sampled_from(["\n", "\r\n", "\r"]))
def test_sse_parser_gives_the_same_events_however_the_text_is_cut(cuts, eol):
    text = eol.join(["data: {\"a\": 1}", "", ": comment", "event: x", "data: line1", "data:line2", "", "data: [DONE]", "", ""])
    whole = sse.SSEParser().feed(text)
    p = sse.SSEParser()
    pieces, last = [], 0
    for c in sorted(set(min(c, len(text)) for c in cuts)):
        pieces.append(text[last:c])
        last = c
    pieces.append(text[last:])
    got = [e for piece in pieces for e in p.feed(piece)] + p.flush()
    assert got == whole
    assert [(e.event, e.data) for e in whole] == [("message", '{"a": 1}'), ("x", "line1\nline2"), ("message", "[DONE]")]


def test_sse_flush_keeps_an_event_left_open_at_the_end():
    p = sse.SSEParser()
    assert p.feed("data: last") == []
    assert [e.data for e in p.flush()] == ["last"]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="ab<>/thinkx", max_size=40), st.lists(st.integers(0, 40), max_size=6))
def test_think_splitter_matches_a_whole_text_split(text, cuts):
    whole = chunks.ThinkSplitter()
    expect = whole.feed(text) + whole.flush()
    s = chunks.ThinkSplitter()
    got, last = [], 0
    for c in sorted(set(min(c, len(text)) for c in cuts)) + [len(text)]:
        got += s.feed(text[last:c])
        last = c
    got += s.flush()

    def joined(parts):
        return "".join(t for k, t in parts if k == "answer"), "".join(t for k, t in parts if k == "reasoning")

    assert joined(got) == joined(expect)
