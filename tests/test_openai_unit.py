"""The OpenAI-compatible backend against httpx.MockTransport: exact bodies, streams, retries, faults."""

from __future__ import annotations

import asyncio
import json
import random

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thinkcli.backends import chunks, retries, sse
from thinkcli.backends.base import GenParams
from thinkcli.backends.openai import OpenAIBackend
from thinkcli.errors import BackendError, ExitStatus, ModelUnavailable, ThinkError
from thinkcli.events import Generation, Retry, Token, Usage
from thinkcli.keys import KeyChoice, Secret

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2 + 2?"}]
KEY = "sk-unit-test-0123456789abcdef"


def sse_body(*docs, done: bool = True) -> str:
    text = "".join("data: " + (d if isinstance(d, str) else json.dumps(d)) + "\n\n" for d in docs)
    return text + ("data: [DONE]\n\n" if done else "")


def chat_chunk(content=None, index=0, finish=None, **delta) -> dict:
    if content is not None:
        delta["content"] = content
    return {"choices": [{"index": index, "delta": delta, "finish_reason": finish}]}


def usage_chunk(prompt=7, completion=3, reasoning=None, cached=None) -> dict:
    u = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if reasoning is not None:
        u["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    if cached is not None:
        u["prompt_tokens_details"] = {"cached_tokens": cached}
    return {"choices": [], "usage": u}


def stream(text: str) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, text=text)


class Recorder:
    """A MockTransport handler that answers from a list (or a function) and keeps every request."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request):
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, BaseException):
            raise answer
        return answer(request) if callable(answer) else answer

    def bodies(self) -> list[dict]:
        return [json.loads(r.content) for r in self.requests]


class Sleeps:
    def __init__(self):
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


class Zero(random.Random):
    def random(self) -> float:  # no jitter: backoff delays are exact
        return 0.0


def backend(handler, key: str | None = None, **kw) -> OpenAIBackend:
    kw.setdefault("sleep", Sleeps())
    kw.setdefault("rng", Zero())
    choice = KeyChoice(Secret(key) if key else None, "set OPENAI_API_KEY or run `think keys set openai`")
    return OpenAIBackend("gpt-4o-mini", "https://api.example.test/v1", key=choice, display="openai:gpt-4o-mini",
                         transport=httpx.MockTransport(handler), **kw)


def run(b: OpenAIBackend, n: int = 1, params: GenParams | None = None, raw: str | None = None) -> list:
    try:
        if raw is not None:
            return list(b.complete(raw, params or GenParams(max_tokens=16), n))
        return list(b.generate(MESSAGES, params or GenParams(max_tokens=16), n))
    finally:
        b.close()


def gens(events) -> list[Generation]:
    return sorted((e for e in events if isinstance(e, Generation)), key=lambda g: g.sample)


OK = sse_body(chat_chunk("4"), chat_chunk(None, finish="stop"), usage_chunk())


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


# -- n samples ------------------------------------------------------------------------


def n_stream(n: int, texts=("4", "5", "4")) -> httpx.Response:
    docs = [chat_chunk(texts[i % len(texts)], index=i) for i in range(n)]
    docs += [chat_chunk(None, index=i, finish="stop") for i in range(n)]
    return stream(sse_body(*docs, usage_chunk(prompt=10, completion=n)))


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


# -- retries ----------------------------------------------------------------------------


@pytest.mark.parametrize("code,phrase", [(429, "Too Many Requests"), (500, "Internal Server Error"),
                                         (502, "Bad Gateway"), (503, "Service Unavailable"), (504, "Gateway Timeout")])
def test_retryable_statuses_back_off_exponentially(code, phrase):
    rec = Recorder(httpx.Response(code), httpx.Response(code), httpx.Response(code), stream(OK))
    sleeps = Sleeps()
    events = run(backend(rec, sleep=sleeps))
    retries_ = [e for e in events if isinstance(e, Retry)]
    assert [(r.after_s, r.reason) for r in retries_] == [(0.5, f"{code} {phrase}"), (1.0, f"{code} {phrase}"),
                                                        (2.0, f"{code} {phrase}")]
    assert sleeps.calls == [0.5, 1.0, 2.0]
    assert gens(events)[0].text == "4"


def test_retry_after_is_honoured():
    rec = Recorder(httpx.Response(429, headers={"Retry-After": "2"}), stream(OK))
    sleeps = Sleeps()
    events = run(backend(rec, sleep=sleeps))
    assert [(r.after_s, r.reason) for r in events if isinstance(r, Retry)] == [(2.0, "429 Too Many Requests")]
    assert sleeps.calls == [2.0]


def test_jitter_stays_within_a_quarter():
    assert retries.backoff(2, 0.999) < 2.0 * 1.25 and retries.backoff(2, 0.0) == 2.0


def test_retries_run_out_with_a_clear_error():
    rec = Recorder(httpx.Response(503))
    with pytest.raises(BackendError, match=r"kept answering 503 Service Unavailable after 2 retries; .*--max-retries"):
        run(backend(rec, max_retries=2))
    assert len(rec.requests) == 3


@pytest.mark.parametrize("code", [400, 401, 403, 404])
def test_client_errors_are_not_retried(code):
    rec = Recorder(httpx.Response(code, json={"error": {"message": "nope"}}))
    with pytest.raises(BackendError) as info:
        run(backend(rec, key=KEY))
    assert len(rec.requests) == 1 and info.value.status == ExitStatus.ERROR
    assert "\n" not in info.value.message


def test_401_names_the_keys_environment_variable():
    with pytest.raises(BackendError, match=r"needs an API key \(401 Unauthorized\); set OPENAI_API_KEY"):
        run(backend(Recorder(httpx.Response(401))))
    with pytest.raises(BackendError, match=r"rejected the API key \(401 Unauthorized\); set OPENAI_API_KEY"):
        run(backend(Recorder(httpx.Response(401)), key=KEY))


def test_404_says_what_to_check():
    with pytest.raises(BackendError, match=r"has no /chat/completions or no model 'gpt-4o-mini' .*--base-url"):
        run(backend(Recorder(httpx.Response(404, json={"error": {"message": "model gpt-4o-mini not found"}}))))


def test_a_key_echoed_by_the_server_is_blanked():
    echo = httpx.Response(400, json={"error": {"message": f"bad key {KEY} (Bearer {KEY})"}})
    with pytest.raises(BackendError) as info:
        run(backend(Recorder(echo), key=KEY))
    assert KEY not in str(info.value) and "***" in str(info.value)


def test_connection_refused_retries_then_is_unavailable():
    rec = Recorder(httpx.ConnectError("[Errno 111] Connection refused"))
    sleeps = Sleeps()
    with pytest.raises(ModelUnavailable, match=r"cannot reach https://api.example.test/v1 \(connection refused\) after 3 retries") as info:
        run(backend(rec, max_retries=3, sleep=sleeps))
    assert info.value.status == ExitStatus.UNAVAILABLE and len(rec.requests) == 4 and sleeps.calls == [0.5, 1.0, 2.0]


def test_read_timeouts_are_retried():
    rec = Recorder(httpx.ReadTimeout("timed out"), stream(OK))
    events = run(backend(rec))
    assert [r.reason for r in events if isinstance(r, Retry)] == ["read timeout"]
    with pytest.raises(BackendError, match=r"sent nothing for 120 s \(read timeout\) after 1 retries"):
        run(backend(Recorder(httpx.ReadTimeout("timed out")), max_retries=1))


# -- broken streams ------------------------------------------------------------------------


class Cut(httpx.AsyncByteStream):
    async def __aiter__(self):
        yield sse_body(chat_chunk("half an ans"), done=False).encode()
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def cut(_request=None):
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Cut())


MALFORMED = stream('data: {"choices": [{"index": 0, "delta": \n\n')
EMPTY = stream(sse_body({"choices": []}))


@pytest.mark.parametrize("fault,reason", [(cut, "stream cut mid-answer"), (MALFORMED, "malformed data in the stream"),
                                          (EMPTY, "the server returned no choices")])
def test_a_broken_stream_is_retried_once(fault, reason):
    rec = Recorder(fault, stream(OK))
    events = run(backend(rec))
    assert [r.reason for r in events if isinstance(r, Retry)] == [reason]
    [g] = gens(events)
    assert g.text == "4" and len(rec.requests) == 2


def test_a_stream_broken_twice_is_an_error_and_its_tokens_count():
    rec = Recorder(cut, cut, stream(OK))
    with pytest.raises(BackendError, match=r"broke the stream twice \(stream cut mid-answer\)"):
        run(backend(rec))
    assert len(rec.requests) == 2


def test_finished_samples_are_kept_when_another_is_lost():
    def answer(request):
        body = json.loads(request.content)
        if "n" in body:
            return n_stream(1)  # ignores n
        return cut() if body["seed"] == 3 else n_stream(1)  # sample 2 = seed 1 + 2

    b = backend(Recorder(answer))
    got = gens(run(b, n=3, params=GenParams(max_tokens=8, seed=1)))
    assert [(g.sample, g.finish_reason) for g in got] == [(0, "stop"), (1, "stop"), (2, "error")]
    assert got[2].text == "" and got[2].usage.estimated and got[2].usage.completion_tokens > 0


def test_an_error_object_mid_stream_is_a_fault_with_the_message():
    rec = Recorder(stream(sse_body(chat_chunk("a"), {"error": {"message": "model crashed"}})))
    with pytest.raises(BackendError, match=r"server error mid-stream: model crashed"):
        run(backend(rec))
