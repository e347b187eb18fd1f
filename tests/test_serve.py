"""`think serve` end to end: a real server process, real clients, a real upstream.

The upstream is tests/faultserver.py (an OpenAI-compatible server on 127.0.0.1
that misbehaves on request); the clients are the official ``openai`` SDK and
plain httpx for what an SDK would refuse to send. One server serves the module;
tests that need other flags start their own.
"""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import openai
import pytest

from tests.faultserver import DEFAULT_REPLY
from tests.serveproc import QUESTION, post

pytestmark = pytest.mark.server


def upstream_usage(fs) -> tuple[int, int]:
    """The prompt and completion tokens the fault server reported, summed over its answers."""
    prompt = completion = 0
    for req in fs.completion_requests():
        body = req["body"]
        n = int(body.get("n") or 1)
        prompt += sum(len(str(m.get("content", "")).split()) for m in body["messages"]) or 1
        completion += min(len(DEFAULT_REPLY.split(" ")), int(body.get("max_tokens") or 10**6)) * n
    return prompt, completion


def test_think_low_answers_with_the_upstream_reply_and_its_usage(sdk, fs):
    reply = sdk.chat.completions.create(model="think-low", messages=QUESTION)
    assert reply.choices[0].message.content == DEFAULT_REPLY
    assert reply.choices[0].finish_reason == "stop"
    assert reply.model == "think-low"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == upstream_usage(fs)
    think = reply.model_extra["think"]
    assert think["effort"] == "low" and think["strategy"] == "cot" and think["samples"] == 1
    # effort low is a pass-through: the conversation goes upstream as the client sent it
    assert fs.completion_requests()[0]["body"]["messages"] == QUESTION


def test_think_low_streams_tokens_as_the_upstream_makes_them(sdk, fs):
    pieces = []
    usage = None
    for chunk in sdk.chat.completions.create(model="think-low", messages=QUESTION, stream=True,
                                                stream_options={"include_usage": True}):
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
    assert len(pieces) == len(DEFAULT_REPLY.split(" ")), pieces  # one delta per upstream token, not one blob
    assert "".join(pieces) == DEFAULT_REPLY
    assert (usage.prompt_tokens, usage.completion_tokens) == upstream_usage(fs)


def test_think_medium_votes_and_reports_usage_summed_over_every_sample(sdk, fs):
    reply = sdk.chat.completions.create(model="think-medium", messages=QUESTION)
    think = reply.model_extra["think"]
    assert think["strategy"] == "vote" and think["votes"] == {"4": think["samples"]} and think["samples"] >= 2
    assert reply.choices[0].message.content == DEFAULT_REPLY  # the chosen sample's whole reply
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == upstream_usage(fs)
    assert reply.usage.completion_tokens == sum(c["completion_tokens"] for c in think["candidates"])


def test_think_medium_streams_progress_as_reasoning_then_the_answer(sdk, fs):
    reasoning, content, finish, usage = [], [], None, None
    for chunk in sdk.chat.completions.create(model="think-medium", messages=QUESTION, stream=True,
                                                stream_options={"include_usage": True}):
        usage = chunk.usage or usage
        for choice in chunk.choices:
            extra = choice.delta.model_extra or {}
            if extra.get("reasoning_content"):
                assert not content, "progress comes before the answer"
                reasoning.append(extra["reasoning_content"])
            if choice.delta.content:
                content.append(choice.delta.content)
            finish = choice.finish_reason or finish
    lines = "".join(reasoning)
    assert "sample 1 started" in lines and "sample 2: 4" in lines and "votes: 4×" in lines
    assert "".join(content) == DEFAULT_REPLY and finish == "stop"
    assert (usage.prompt_tokens, usage.completion_tokens) == upstream_usage(fs)


def test_the_think_object_wins_over_the_model_name(sdk, fs):
    reply = sdk.chat.completions.create(model="think-low", messages=QUESTION,
                                           extra_body={"think": {"effort": "medium", "samples": 3}})
    think = reply.model_extra["think"]
    assert think["effort"] == "medium" and think["strategy"] == "vote" and think["samples"] <= 3


def test_a_selection_rule_in_the_think_object(sdk, fs):
    reply = sdk.chat.completions.create(model="think-medium", messages=QUESTION,
                                        extra_body={"think": {"select": "weighted:mean-logprob"}})
    assert reply.model_extra["think"]["select"]["rule"] == "weighted:mean-logprob"
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="think-medium", messages=QUESTION, extra_body={"think": {"select": "best:x"}})
    assert "unknown signal 'x'" in info.value.message


def test_a_plain_model_name_is_effort_low(sdk, fs):
    reply = sdk.chat.completions.create(model="openai:fault-model", messages=QUESTION)
    assert reply.model_extra["think"]["effort"] == "low"
    reply = sdk.chat.completions.create(model="think-high/openai:fault-model", messages=QUESTION)
    assert reply.model_extra["think"]["effort"] == "high"


def test_n_asks_for_that_many_runs(sdk, fs):
    reply = sdk.chat.completions.create(model="think-low", messages=QUESTION, n=2)
    assert [c.index for c in reply.choices] == [0, 1]
    assert all(c.message.content == DEFAULT_REPLY for c in reply.choices)
    assert len(fs.completion_requests()) == 2
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == upstream_usage(fs)
    assert len(reply.model_extra["think"]["runs"]) == 2


def test_runs_go_to_the_history_like_cli_runs(sdk, served, fs):
    sdk.chat.completions.create(model="think-medium", messages=[{"role": "user", "content": "history 7?"}])
    proc = subprocess.run([sys.executable, "-m", "thinkcli", "logs", "--json", "-n", "50"], env=served.env,
                          capture_output=True, text=True, timeout=60)
    runs = [r for r in json.loads(proc.stdout) if r["prompt"] == "history 7?"]
    assert len(runs) == 1 and runs[0]["strategy"] == "vote" and runs[0]["model"] == "openai:fault-model"


def test_models_lists_every_effort_for_pickers(sdk):
    ids = {m.id for m in sdk.models.list()}
    assert {"think-low", "think-medium", "think-high", "think-auto"} <= ids
    assert {"openai:fault-model", "think-auto/openai:fault-model"} <= ids


def test_unsupported_parameters_are_dropped_with_a_note(sdk, fs):
    reply = sdk.chat.completions.create(model="think-low", messages=QUESTION, frequency_penalty=0.5,
                                           logit_bias={"50256": -100})
    sent = fs.completion_requests()[0]["body"]
    assert "frequency_penalty" not in sent and "logit_bias" not in sent
    assert "dropped unsupported parameters: frequency_penalty, logit_bias" in reply.model_extra["think"]["notes"]


def test_sampling_parameters_reach_the_upstream(sdk, fs):
    sdk.chat.completions.create(model="think-low", messages=QUESTION, max_tokens=3, temperature=0.2, seed=7)
    sent = fs.completion_requests()[0]["body"]
    assert (sent["max_tokens"], sent["temperature"], sent["seed"]) == (3, 0.2, 7)


def test_a_multi_turn_conversation_reaches_the_upstream_whole(sdk, fs):
    chat = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "What is 2 + 2?"}]
    sdk.chat.completions.create(model="think-low", messages=chat)
    assert fs.completion_requests()[0]["body"]["messages"] == chat


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("body,status,param", [
    (b"{not json", 400, None),
    ({"model": "think-low"}, 400, "messages"),
    ({"model": "think-low", "messages": []}, 400, "messages"),
    ({"model": "think-low", "messages": [{"role": "user", "content": 5}]}, 400, "messages[0].content"),
    ({"model": "think-low", "messages": QUESTION, "temperature": "hot"}, 400, "temperature"),
    ({"model": "think-low", "messages": QUESTION, "n": 0}, 400, "n"),
    ({"model": "think-low", "messages": QUESTION, "think": {"effort": "ultra"}}, 400, "think.effort"),
    ({"model": "think-low", "messages": QUESTION, "think": {"samples": "many"}}, 400, "think.samples"),
    ({"model": "think-low", "messages": QUESTION, "think": {"verify": "rm -rf /"}}, 400, "think.verify"),
    ({"model": 7, "messages": QUESTION}, 400, "model"),
    ({"model": "think-ultra", "messages": QUESTION}, 404, "model"),
    ({"model": "gpt-17", "messages": QUESTION}, 404, "model"),
])
def test_bad_requests_get_openai_error_objects(served, fs, body, status, param):
    resp = post(served, body)
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["message"] and error["type"] and error["param"] == param
    assert not fs.completion_requests()  # nothing reached the upstream


def test_the_sdk_raises_its_own_error_types(sdk):
    with pytest.raises(openai.NotFoundError) as info:
        sdk.chat.completions.create(model="think-ultra", messages=QUESTION)
    assert "unknown effort 'ultra'" in info.value.message
    with pytest.raises(openai.BadRequestError):
        sdk.chat.completions.create(model="think-low", messages=[])


def test_an_oversized_body_is_413(served, fs):
    big = {"model": "think-low", "messages": [{"role": "user", "content": "x" * (5 * 1024 * 1024)}]}
    resp = post(served, big)
    assert resp.status_code == 413 and resp.json()["error"]["code"] == "request_too_large"


def test_unknown_routes_are_error_objects(served):
    resp = httpx.get(served.root + "/v1/nothing", timeout=10)
    assert resp.status_code == 404 and "error" in resp.json()


@pytest.mark.parametrize("fault", [{"status": 500}, {"status": 429}, {"drop": True}])
def test_an_upstream_that_keeps_failing_is_502(sdk, fs, fault):
    fs.faults = [dict(fault) for _ in range(4)]  # more than --max-retries 1 can get past
    with pytest.raises(openai.APIStatusError) as info:
        sdk.chat.completions.create(model="think-low", messages=QUESTION)
    assert info.value.status_code == 502
    assert info.value.body["code"] == "upstream_failed"


def test_an_upstream_failing_before_the_stream_starts_is_502_not_a_broken_200(sdk, fs):
    fs.faults = [{"status": 500}, {"status": 500}]
    with pytest.raises(openai.APIStatusError) as info:
        list(sdk.chat.completions.create(model="think-low", messages=QUESTION, stream=True))
    assert info.value.status_code == 502


def test_a_stream_cut_mid_answer_is_resumed_without_repeating_text(sdk, fs):
    fs.faults = [{"cut": True}]  # the backend retries once; the retry repeats the same words
    stream = sdk.chat.completions.create(model="think-low", messages=QUESTION, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == DEFAULT_REPLY
    assert len(fs.completion_requests()) == 2


def test_an_error_after_the_stream_started_is_an_error_event(served, fs):
    fs.faults = [{"cut": True}, {"cut": True}]  # both attempts break: the answer is lost mid-stream
    body = {"model": "think-low", "messages": QUESTION, "stream": True}
    with httpx.stream("POST", served.url + "/chat/completions", json=body, timeout=60) as resp:
        assert resp.status_code == 200
        events = [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: {")]
    assert events[-1]["error"]["code"] == "upstream_failed"


def test_upstream_key_and_requests_stay_behind_the_server(served, fs):
    other = openai.OpenAI(base_url=served.url, api_key="client-secret-123", max_retries=0)
    other.chat.completions.create(model="think-low", messages=QUESTION)
    sent = fs.completion_requests()[0]
    assert "client-secret-123" not in json.dumps(sent)  # the client's key is not forwarded upstream
    assert "client-secret-123" not in served.stderr()
