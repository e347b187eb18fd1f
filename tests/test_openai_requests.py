"""The OpenAI-compatible backend against httpx.MockTransport: what it sends. Exact bodies and
headers, where the key goes, the template endpoint, how requests adapt to what a server
rejects (logprobs, max_tokens, n), and N samples as one request or concurrent ones."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tests.openai_mock import (
    KEY,
    MESSAGES,
    OK,
    Recorder,
    backend,
    chat_chunk,
    gens,
    n_stream,
    run,
    sse_body,
    stream,
    usage_chunk,
)
from thinkcli.backends.base import GenParams
from thinkcli.errors import ThinkError
from thinkcli.events import Token, Usage

# -- request bodies -------------------------------------------------------------


def test_chat_request_body_and_headers_are_exact():
    rec = Recorder(stream(OK))
    run(backend(rec), params=GenParams(max_tokens=16, temperature=0.3, top_p=0.9, seed=11, stop=("\n\n",)))
    [req] = rec.requests
    assert req.method == "POST" and str(req.url) == "https://api.example.test/v1/chat/completions"
    assert json.loads(req.content) == {
        "messages": MESSAGES,
        "model": "gpt-4o-mini",
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 16,
        "temperature": 0.3,
        "top_p": 0.9,
        "seed": 11,
        "stop": ["\n\n"],
        "logprobs": True,
        "top_logprobs": 20,
    }
    assert "authorization" not in req.headers  # no key: a local server gets no Authorization header


def test_a_key_goes_in_the_authorization_header_only():
    rec = Recorder(stream(OK))
    b = backend(rec, key=KEY)
    assert KEY not in repr(b.__dict__) and KEY not in repr(b.wire.__dict__)
    run(b)
    assert rec.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert KEY not in rec.requests[0].content.decode()


def test_completions_request_for_raw_continuation():
    rec = Recorder(stream(sse_body({"choices": [{"index": 0, "text": " Wait", "finish_reason": None,
                                                 "logprobs": {"token_logprobs": [-0.5]}}]},
                                   {"choices": [{"index": 0, "text": ",", "finish_reason": "length"}]})))
    events = run(backend(rec), raw="<|user|>hi<|assistant|>")
    body = rec.bodies()[0]
    assert str(rec.requests[0].url).endswith("/v1/completions")
    assert body["prompt"] == "<|user|>hi<|assistant|>" and body["logprobs"] == 5 and "messages" not in body
    [g] = gens(events)
    assert g.text == " Wait," and g.finish_reason == "length" and g.logprobs == [-0.5]


def test_chat_prompt_uses_the_servers_template_endpoint():
    rec = Recorder(lambda r: httpx.Response(200, json={"prompt": "P:" + json.loads(r.content)["messages"][0]["content"]}))
    b = backend(rec)
    try:
        assert b.capabilities.raw_completion is True
        assert b.chat_prompt([{"role": "user", "content": "hello"}]) == "P:hello"
        assert str(rec.requests[-1].url) == "https://api.example.test/apply-template"
    finally:
        b.close()


def test_the_template_probe_outside_the_base_url_carries_no_key():
    rec = Recorder(httpx.Response(200, json={"prompt": "P"}))
    b = backend(rec, key=KEY)
    try:
        assert b.chat_prompt(MESSAGES) == "P"
    finally:
        b.close()
    assert "authorization" not in rec.requests[0].headers


def test_no_template_endpoint_means_no_raw_completion_and_a_clear_error():
    b = backend(Recorder(httpx.Response(404, json={"error": "not found"})))
    try:
        assert b.capabilities.raw_completion is False
        with pytest.raises(ThinkError, match=r"no chat template endpoint \(/apply-template\)"):
            b.chat_prompt(MESSAGES)
    finally:
        b.close()
    assert b.capabilities.local is False



# -- what the server accepts ---------------------------------------------------


def test_a_server_that_gives_no_logprobs_is_remembered():
    b = backend(Recorder(stream(OK)))
    run(b)
    assert b.capabilities.logprobs is False


def test_a_server_that_rejects_logprobs_is_asked_again_without_them():
    rec = Recorder(httpx.Response(400, json={"error": {"message": "logprobs is not supported"}}), stream(OK))
    b = backend(rec)
    [g] = gens(run(b))
    assert g.text == "4"
    assert "logprobs" in rec.bodies()[0] and "logprobs" not in rec.bodies()[1]
    assert b.capabilities.logprobs is False


def test_a_reasoning_model_gets_max_completion_tokens_and_its_default_temperature():
    rec = Recorder(
        httpx.Response(400, json={"error": {"message": "Unsupported parameter: 'max_tokens' is not supported "
                                                       "with this model. Use 'max_completion_tokens' instead."}}),
        httpx.Response(400, json={"error": {"message": "Unsupported value: 'temperature' does not support 0.7 "
                                                       "with this model. Only the default (1) value is supported."}}),
        stream(OK))
    [g] = gens(run(backend(rec), params=GenParams(max_tokens=16, temperature=0.7)))
    last = rec.bodies()[-1]
    assert g.text == "4" and len(rec.requests) == 3
    assert last["max_completion_tokens"] == 16 and "max_tokens" not in last and "temperature" not in last



# -- n samples ------------------------------------------------------------------------



def test_one_request_with_n_when_the_server_honours_it():
    rec = Recorder(lambda r: n_stream(json.loads(r.content).get("n", 1)))
    b = backend(rec)
    got = gens(run(b, n=3, params=GenParams(max_tokens=8, seed=5)))
    assert len(rec.requests) == 1 and rec.bodies()[0]["n"] == 3 and rec.bodies()[0]["seed"] == 5
    assert [g.text for g in got] == ["4", "5", "4"] and b.n_supported is True
    assert sum((g.usage for g in got), Usage()) == Usage(10, 3)  # one usage block, shared exactly


def test_a_server_ignoring_n_falls_back_to_concurrent_requests_with_seeds_and_remembers():
    rec = Recorder(lambda r: n_stream(1))
    b = backend(rec)
    try:
        first = gens(b.generate(MESSAGES, GenParams(max_tokens=8, seed=5), 3))
        bodies = rec.bodies()
        assert bodies[0]["n"] == 3 and bodies[0]["seed"] == 5
        assert sorted(x["seed"] for x in bodies[1:]) == [6, 7] and all("n" not in x for x in bodies[1:])
        assert [g.sample for g in first] == [0, 1, 2] and b.n_supported is False
        rec.requests.clear()
        gens(b.generate(MESSAGES, GenParams(max_tokens=8, seed=9), 2))
        assert sorted(x["seed"] for x in rec.bodies()) == [9, 10] and all("n" not in x for x in rec.bodies())
    finally:
        b.close()


def test_a_server_rejecting_n_is_asked_without_it():
    def answer(r):
        if "n" in json.loads(r.content):
            return httpx.Response(400, json={"error": {"message": "'n' : number must be at most 1"}})
        return n_stream(1)

    rec = Recorder(answer)
    b = backend(rec)
    got = gens(run(b, n=2))
    assert len(got) == 2 and b.n_supported is False


def test_concurrent_samples_interleave_and_parallel_bounds_them():
    """Sample 1's first token arrives before sample 0 finishes: requests really overlap."""
    gate = {"in_flight": 0, "peak": 0}

    class Slow(httpx.AsyncByteStream):
        def __init__(self, word):
            self.word = word

        async def __aiter__(self):
            gate["in_flight"] += 1
            gate["peak"] = max(gate["peak"], gate["in_flight"])
            try:
                for piece in (self.word + "-a", self.word + "-b"):
                    yield sse_body(chat_chunk(piece), done=False).encode()
                    await asyncio.sleep(0.05)
                yield sse_body(chat_chunk(None, finish="stop"), usage_chunk()).encode()
            finally:
                gate["in_flight"] -= 1

    async def handler(request):
        seed = json.loads(request.content)["seed"]
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Slow(f"s{seed}"))

    b = backend(handler, parallel=2)
    b.n_supported = False
    events = run(b, n=4, params=GenParams(max_tokens=8, seed=0))
    order = [e.text for e in events if isinstance(e, Token)]
    assert order.index("s1-a") < order.index("s0-b")  # interleaved, not one sample after another
    assert gate["peak"] == 2  # --parallel 2 of 4 samples
    assert [g.text for g in gens(events)] == ["s0-as0-b", "s1-as1-b", "s2-as2-b", "s3-as3-b"]


def test_closing_the_iterator_cancels_in_flight_requests():
    state = {"started": 0, "closed": 0}

    class Forever(httpx.AsyncByteStream):
        async def __aiter__(self):
            state["started"] += 1
            try:
                yield sse_body(chat_chunk("x"), done=False).encode()
                await asyncio.sleep(3600)
                yield b""
            finally:
                state["closed"] += 1

    async def handler(request):
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Forever())

    b = backend(handler, parallel=3)
    b.n_supported = False
    it = b.generate(MESSAGES, GenParams(max_tokens=8), 3)
    seen = 0
    for event in it:
        seen += isinstance(event, Token)
        if seen == 3:
            break
    it.close()
    b.close()
    assert state == {"started": 3, "closed": 3}
