"""The OpenAI-compatible backend against httpx.MockTransport: when things go wrong. Retries
with backoff and Retry-After, one-line errors that name the fix (and never the key),
unreachable servers, timeouts, and streams that break mid-answer."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.openai_mock import (
    KEY,
    OK,
    Recorder,
    Sleeps,
    backend,
    chat_chunk,
    gens,
    n_stream,
    run,
    sse_body,
    stream,
)
from thinkcli.backends import retries
from thinkcli.backends.base import GenParams
from thinkcli.errors import BackendError, ExitStatus, ModelUnavailable
from thinkcli.events import Retry

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
