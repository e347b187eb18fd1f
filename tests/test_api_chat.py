"""The library face for chat clients (think serve): whole conversations, tools, history."""

from __future__ import annotations

from dataclasses import replace

import pytest

import thinkcli
from thinkcli.backends.base import Capabilities
from thinkcli.errors import UsageError

CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "What is 2 + 2?"}]
TOOLS = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]


def test_a_conversation_in_plain_style_reaches_the_model_unchanged(fake):
    fake.enqueue("4")
    result = thinkcli.run("", model=fake, messages=CHAT, prompt_style="plain")
    assert fake.calls[0].messages == CHAT and result.answer == "4"


def test_a_scaled_effort_asks_the_last_user_turn_in_its_style_and_keeps_the_rest(fake):
    fake.enqueue("Final answer: 4", "Final answer: 4", "Final answer: 4", "Final answer: 4", "Final answer: 4")
    result = thinkcli.run("", model=fake, messages=CHAT, effort="medium", prompt_style="direct", confidence=0.6)
    sent = fake.calls[0].messages
    assert sent[:3] == CHAT[:3]
    assert sent[3]["content"].startswith("What is 2 + 2?\n\nAnswer directly.")
    assert result.answer == "4"


def test_a_conversation_replaces_the_configured_system_prompt(fake, isolated_config, monkeypatch):
    monkeypatch.setenv("THINK_SYSTEM", "You are a pirate.")
    fake.enqueue("4")
    thinkcli.run("", model=fake, messages=CHAT[1:], prompt_style="plain")
    assert fake.calls[0].messages == CHAT[1:]


@pytest.mark.parametrize("messages,message", [
    ([{"role": "system", "content": "x"}], "at least one user message"),
    ([{"role": "user", "content": 3}], "messages[0].content must be a string"),
    (["hi"], "messages[0] must be an object"),
])
def test_bad_conversations_are_usage_errors(fake, messages, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        thinkcli.run("", model=fake, messages=messages)


def test_tools_reach_a_backend_that_takes_them(fake):
    fake.capabilities = replace(fake.capabilities, tools=True, local=False)
    fake.enqueue("")
    thinkcli.run("", model=fake, messages=CHAT, prompt_style="plain", tools=TOOLS, tool_choice="auto")
    params = fake.calls[0].params
    assert params.tools == tuple(TOOLS) and params.tool_choice == "auto"


def test_tools_on_a_model_without_tool_calling_are_refused(fake):
    assert not fake.capabilities.tools
    with pytest.raises(UsageError, match="does not take tools"):
        thinkcli.run("", model=fake, messages=CHAT, tools=TOOLS)
    assert not fake.calls


@pytest.mark.parametrize("options", [{"effort": "medium"}, {"strategy": "vote"}])
def test_tools_at_a_scaled_effort_are_refused(fake, options):
    fake.capabilities = Capabilities(tools=True, local=False)
    with pytest.raises(UsageError, match="effort low only"):
        thinkcli.run("", model=fake, messages=CHAT, tools=TOOLS, **options)


def test_history_true_logs_the_run_like_the_command_line(fake, isolated_config):
    from thinkcli import history

    fake.enqueue("Final answer: 4", "Final answer: 5")
    thinkcli.run("", model=fake, messages=CHAT, history=True)
    thinkcli.run("What is 2 + 3?", model=fake)  # off by default
    [row] = history.recent(5)
    assert row["prompt"] == "What is 2 + 2?" and row["answer"] == "4" and row["status"] == 0


@pytest.mark.server
def test_one_remote_backend_runs_requests_from_many_threads_at_once():
    import threading

    from tests.faultserver import FaultServer

    with FaultServer(delay=0.5) as fs:
        backend = thinkcli.load_model("openai:m", base_url=fs.url, max_retries=0)
        try:
            threads = [threading.Thread(target=thinkcli.run, args=("2+2?",), kwargs={"model": backend})
                       for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            backend.close()
        assert fs.peak_in_flight == 4  # not one after another behind a lock
