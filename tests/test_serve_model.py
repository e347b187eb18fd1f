"""`think serve` with real models: the embedded GGUF in the server process, and
llama-cpp-python's own server as the upstream. Slow: run under the model lock.

    flock /tmp/thinkcli-model.lock pytest -m model tests/test_serve_model.py
"""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.serveproc import ServeProcess
from tests.test_openai_server import llama_server  # noqa: F401  (the module-scoped upstream fixture)

pytestmark = [pytest.mark.model, pytest.mark.server]
QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]


@pytest.fixture(scope="module")
def embedded_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("serve-model")
    sp = ServeProcess("--threads", "2", env={"THINK_CONFIG_DIR": str(home), "THINK_HISTORY_DB": str(home / "h.db")},
                      wait_ready=False, ready_timeout=300)
    sp.start()
    try:
        yield sp
    finally:
        sp.stop()


def test_the_embedded_model_answers_after_loading_and_streams_tokens(embedded_server):
    sp = embedded_server
    # Asked at once, while llama.cpp is still being imported and the GGUF loaded: a 503 error object.
    early = httpx.post(sp.url + "/chat/completions", json={"model": "think-low", "messages": QUESTION}, timeout=60)
    assert early.status_code == 503, early.text
    assert early.json()["error"]["code"] == "model_loading" and early.headers["retry-after"]
    sp.wait_for_line("think serve: ready", timeout=300)
    assert httpx.get(sp.root + "/health", timeout=60).json()["status"] == "ok"
    client = openai.OpenAI(base_url=sp.url, api_key="unused", max_retries=0, timeout=300)
    pieces = []
    usage = None
    for chunk in client.chat.completions.create(model="think-low", messages=QUESTION, max_tokens=16, seed=1,
                                                stream=True, stream_options={"include_usage": True}):
        usage = chunk.usage or usage
        pieces += [c.delta.content for c in chunk.choices if c.delta.content]
    assert len(pieces) > 1 and "".join(pieces).strip()
    assert usage.completion_tokens == len(pieces) and usage.prompt_tokens > 0


def test_the_embedded_model_votes_at_medium_and_refuses_tools(embedded_server):
    sp = embedded_server
    sp.wait_for_line("think serve: ready", timeout=300)
    client = openai.OpenAI(base_url=sp.url, api_key="unused", max_retries=0, timeout=300)
    reply = client.chat.completions.create(model="think-medium", messages=QUESTION, max_tokens=24, seed=1,
                                           extra_body={"think": {"samples": 2}})
    think = reply.model_extra["think"]
    assert think["strategy"] == "vote" and think["samples"] == 2 and think["cost_usd"] == 0
    assert reply.usage.completion_tokens == sum(c["completion_tokens"] for c in think["runs"][0]["candidates"])
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="think-low", messages=QUESTION, tools=tools)
    assert "tools" in info.value.message


def test_a_seeded_request_gets_the_same_reply_whatever_the_server_answered_before(embedded_server):
    sp = embedded_server
    sp.wait_for_line("think serve: ready", timeout=300)
    client = openai.OpenAI(base_url=sp.url, api_key="unused", max_retries=0, timeout=300)
    system = {"role": "system", "content": "Answer in one short paragraph. " * 12}  # a long prefix in common
    ask = dict(model="think-medium", max_tokens=32, temperature=0.9, seed=21, extra_body={"think": {"samples": 3}})
    tom = [system, {"role": "user", "content": "Tom has 17 apples and buys 28 more. How many does he have?"}]
    train = [system, {"role": "user", "content": "A train goes 60 km an hour for 3 hours. How far does it go?"}]

    def texts(messages):
        reply = client.chat.completions.create(messages=messages, **ask)
        samples = reply.model_extra["think"]["runs"][0]["candidates"]
        return reply.choices[0].message.content, [(c["answer"], c["completion_tokens"]) for c in samples]

    first = texts(tom)
    texts(train)  # the server's prompt cache now holds the train question
    assert texts(tom) == first


def test_in_front_of_llama_cpp_pythons_own_server(llama_server, tmp_path):  # noqa: F811
    env = {"THINK_CONFIG_DIR": str(tmp_path), "THINK_HISTORY_DB": str(tmp_path / "h.db"), "OPENAI_API_KEY": ""}
    with ServeProcess("-m", "openai:smollm", "--base-url", llama_server, env=env) as sp:
        client = openai.OpenAI(base_url=sp.url, api_key="unused", max_retries=0, timeout=300)
        low = client.chat.completions.create(model="think-low", messages=QUESTION, max_tokens=12, seed=3)
        assert low.choices[0].message.content.strip() and low.usage.completion_tokens > 0
        body = {"model": "think-medium", "messages": QUESTION, "max_tokens": 12, "seed": 3, "stream": True,
                "think": {"samples": 2}}
        with httpx.stream("POST", sp.url + "/chat/completions", json=body, timeout=300) as resp:
            chunks = [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: {")]
        reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content") or "" for c in chunks if c["choices"])
        content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
        assert "sample 1" in reasoning and "sample 2" in reasoning and content.strip()
