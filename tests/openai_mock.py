"""The OpenAI-compatible backend on httpx.MockTransport: the fixtures its unit tests share.

A ``Recorder`` answers from a list (or a function) and keeps every request; the SSE
builders write exactly what a server streams; ``backend`` makes an ``OpenAIBackend``
with no real sleeps and no jitter, and ``run`` drains it. Used by test_openai_requests,
test_openai_streams, test_openai_errors and test_signals.
"""

from __future__ import annotations

import json
import random

import httpx

from thinkcli.backends.base import GenParams
from thinkcli.backends.openai import OpenAIBackend
from thinkcli.events import Generation
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


def n_stream(n: int, texts=("4", "5", "4")) -> httpx.Response:
    docs = [chat_chunk(texts[i % len(texts)], index=i) for i in range(n)]
    docs += [chat_chunk(None, index=i, finish="stop") for i in range(n)]
    return stream(sse_body(*docs, usage_chunk(prompt=10, completion=n)))
