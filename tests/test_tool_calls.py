"""Tool calls through the OpenAI-compatible backend: definitions go upstream, calls stream back."""

from __future__ import annotations

import pytest

from tests.faultserver import FaultServer
from thinkcli.backends.base import GenParams
from thinkcli.backends.openai import OpenAIBackend
from thinkcli.events import Generation, ToolCall

pytestmark = pytest.mark.server
TOOLS = ({"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}},)


def test_tools_are_forwarded_and_tool_call_pieces_come_back_as_events():
    with FaultServer(tool_calls=[{"name": "add", "arguments": '{"a": 2, "b": 2}'}]) as fs:
        backend = OpenAIBackend("m", fs.url)
        try:
            events = list(backend.generate([{"role": "user", "content": "2+2?"}],
                                           GenParams(max_tokens=16, tools=TOOLS, tool_choice="required")))
        finally:
            backend.close()
        body = fs.completion_requests()[0]["body"]
    assert body["tools"] == list(TOOLS) and body["tool_choice"] == "required"
    pieces = [e for e in events if isinstance(e, ToolCall)]
    assert (pieces[0].id, pieces[0].name) == ("call_0", "add")
    assert "".join(p.arguments for p in pieces) == '{"a": 2, "b": 2}'
    [gen] = [e for e in events if isinstance(e, Generation)]
    assert gen.finish_reason == "tool_calls" and gen.text == ""
    assert gen.tool_calls == [{"id": "call_0", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 2}'}}]


def test_without_tools_nothing_about_tools_is_sent():
    with FaultServer(tool_calls=[{"name": "add", "arguments": "{}"}]) as fs:
        backend = OpenAIBackend("m", fs.url)
        try:
            events = list(backend.generate([{"role": "user", "content": "2+2?"}], GenParams(max_tokens=16)))
        finally:
            backend.close()
        body = fs.completion_requests()[0]["body"]
    assert "tools" not in body and "tool_choice" not in body
    assert not [e for e in events if isinstance(e, ToolCall)]


def test_an_assistant_turn_without_content_is_sent_as_is():
    turn = [{"role": "user", "content": "2+2?"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c", "type": "function",
                                                                   "function": {"name": "add", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "4"}]
    with FaultServer() as fs:
        backend = OpenAIBackend("m", fs.url)
        try:
            [gen] = [e for e in backend.generate(turn, GenParams(max_tokens=16, tools=TOOLS)) if isinstance(e, Generation)]
        finally:
            backend.close()
        assert fs.completion_requests()[0]["body"]["messages"] == turn
    assert gen.text
