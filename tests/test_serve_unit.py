"""`think serve` pieces without a server: request mapping, response shapes, the queue, the rooms."""

from __future__ import annotations

import asyncio

import pytest

from thinkcli import events
from thinkcli.serve import admission, auth, mapping, protocol
from thinkcli.serve.errors import APIError

MSGS = [{"role": "user", "content": "2+2?"}]


def lookup(name):
    return {None: "m", "m": "m", "ref:m": "m"}.get(name)


def parse(**body):
    return mapping.parse({"model": "think-low", "messages": MSGS, **body}, lookup, ["think-low"])


def test_the_model_name_picks_effort_and_model():
    assert (parse(model="think-high").effort, parse(model="think-high").served) == ("high", "m")
    assert (parse(model="think-auto/ref:m").effort, parse(model="think-auto/ref:m").served) == ("auto", "m")
    assert parse(model="m").effort == "low"
    with pytest.raises(APIError) as info:
        parse(model="think-auto/other")
    assert info.value.status == 404


def test_the_think_object_wins_and_maps_to_face_options():
    call = parse(model="think-high", think={"effort": "medium", "samples": 3, "max_cost": 0.5, "time_limit": 9})
    assert call.effort == "medium"
    assert {k: call.options[k] for k in ("samples", "max_cost", "time_limit")} == {"samples": 3, "max_cost": 0.5,
                                                                                      "time_limit": 9}


def test_the_server_cost_cap_bounds_every_request():
    capped = mapping.parse({"model": "think-low", "messages": MSGS, "think": {"max_cost": 5.0}}, lookup, [], 0.1)
    assert capped.options["max_cost"] == 0.1
    lower = mapping.parse({"model": "think-low", "messages": MSGS, "think": {"max_cost": 0.01}}, lookup, [], 0.1)
    assert lower.options["max_cost"] == 0.01
    assert mapping.parse({"model": "think-low", "messages": MSGS}, lookup, [], 0.1).options["max_cost"] == 0.1


def test_unknown_parameters_are_listed_not_passed():
    call = parse(presence_penalty=1, user="u", response_format={"type": "json_object"})
    assert call.dropped == ["presence_penalty", "response_format", "user"]
    assert not {"presence_penalty", "user", "response_format"} & set(call.options)


def test_text_parts_are_joined_and_images_refused():
    call = parse(messages=[{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}])
    assert call.options["messages"][0]["content"] == "ab" and call.prompt == "ab"
    with pytest.raises(APIError) as info:
        parse(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}])
    assert info.value.param == "messages[0].content"


def test_booleans_are_not_numbers():
    with pytest.raises(APIError) as info:
        parse(max_tokens=True)
    assert info.value.param == "max_tokens"


def test_usage_of_several_runs_adds_up():
    a = protocol.add_usage(None, events.Usage(10, 5, 2))
    total = protocol.add_usage(a, events.Usage(10, 7, 1, cached_tokens=4))
    assert total["prompt_tokens"] == 20 and total["completion_tokens"] == 12 and total["total_tokens"] == 32
    assert total["completion_tokens_details"] == {"reasoning_tokens": 3}
    assert total["prompt_tokens_details"] == {"cached_tokens": 4}


def test_the_queue_admits_up_to_its_slots_plus_its_length():
    async def scenario():
        adm = admission.Admission(concurrency=1, max_queue=1)
        first = adm.reserve(1)
        second = adm.reserve(1)
        with pytest.raises(APIError) as info:
            adm.reserve(1)
        assert info.value.status == 429
        order = []

        async def run(ticket, name, hold):
            async with ticket.slot():
                order.append(name)
                await asyncio.sleep(hold)

        await asyncio.gather(run(first, "a", 0.05), run(second, "b", 0))
        assert order == ["a", "b"] and adm.active == 0 and adm.waiting == 0
        unused = adm.reserve(2)
        unused.release()  # a request that ended before its runs started gives its places back
        assert adm.waiting == 0

    asyncio.run(scenario())


def test_the_key_check():
    auth.check(None, None)
    auth.check("k", "Bearer k")
    for header in (None, "Bearer x", "k", "Basic k"):
        with pytest.raises(APIError):
            auth.check("k", header)


def test_a_client_gone_stops_the_runs_even_when_the_answers_cancel_is_lost(monkeypatch):
    # asyncio.wait_for (Python < 3.12) can swallow a cancel that lands as its get completes; the
    # answer task then goes on. The runs must still stop, and the log must still say 499.
    from thinkcli.serve import respond

    async def scenario():
        adm = admission.Admission(concurrency=1, max_queue=1)
        records = []
        stopped = []

        def start(cancel, post):  # a run that would go on for 30 s unless told to stop
            stopped.append(cancel.wait(30))

        call = parse(stream=True)
        resp = respond.ChatResponse(call, [start], adm.reserve(1), set(), records.append)

        async def stubborn_stream(send, outbox, count):  # swallows its cancel, then drains the runs
            done = 0
            while done < count:
                try:
                    _, item = await outbox.get()
                except asyncio.CancelledError:
                    continue
                done += item is respond.DONE
            resp.record["status"] = 200

        monkeypatch.setattr(resp, "_stream", stubborn_stream)
        messages = asyncio.Queue()
        await messages.put({"type": "http.disconnect"})
        sent = []

        async def send(message):
            sent.append(message)

        await asyncio.wait_for(resp(None, messages.get, send), 10)
        return records, stopped

    records, stopped = asyncio.run(scenario())
    assert stopped == [True] and [r["status"] for r in records] == [499]
