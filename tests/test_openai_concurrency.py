"""How many of one question's samples go at once to a server that ignores n: all of them,
until the server is seen to serve fewer, which is then remembered per base URL."""

from __future__ import annotations

import json

from tests.faultserver import FaultServer
from thinkcli.backends.base import GenParams
from thinkcli.backends.openai import OpenAIBackend

MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]


def draw(url: str, n: int, **kw) -> list:
    b = OpenAIBackend("fault-model", url, remember=True, **kw)
    try:
        return list(b.generate(MESSAGES, GenParams(max_tokens=16, seed=1), n))
    finally:
        b.close()


def test_a_concurrent_server_gets_every_sample_at_once_and_no_limit_is_remembered(isolated_config):
    with FaultServer(honour_n=False, delay=1.0) as srv:  # long enough that a busy machine's jitter is noise
        draw(srv.url, 8)
        assert [r["body"].get("n") for r in srv.completion_requests()] == [8] + [None] * 7  # the n probe, then 7
        assert srv.peak_in_flight == 7
    facts = json.loads((isolated_config / "servers.json").read_text())
    assert facts == {srv.url: {"n": False}}


def test_a_server_with_two_slots_is_learned_and_later_runs_send_one_more(isolated_config):
    with FaultServer(honour_n=False, delay=0.3, slots=2) as srv:
        draw(srv.url, 6)  # the n probe, then 5 at once: the server answers them two by two
        facts = json.loads((isolated_config / "servers.json").read_text())[srv.url]
        assert facts == {"n": False, "concurrency": 2}
        srv.peak_in_flight = 0
        gens = draw(srv.url, 6)
        assert srv.peak_in_flight == 3  # two served, one queued to see whether the server grew
    assert sorted(g.sample for g in gens if g.__class__.__name__ == "Generation") == list(range(6))
    assert json.loads((isolated_config / "servers.json").read_text())[srv.url]["concurrency"] == 2


def test_parallel_set_by_the_user_wins_and_teaches_nothing(isolated_config):
    with FaultServer(honour_n=False, delay=0.2, slots=1) as srv:
        draw(srv.url, 4, parallel=3)
        assert srv.peak_in_flight == 3
    facts = json.loads((isolated_config / "servers.json").read_text())[srv.url]
    assert "concurrency" not in facts


def test_a_server_that_grew_loses_its_old_limit(isolated_config):
    with FaultServer(honour_n=False, delay=1.0) as srv:
        (isolated_config / "servers.json").write_text(json.dumps({srv.url: {"n": False, "concurrency": 2}}))
        draw(srv.url, 4)  # 3 at once, and all 3 are served together
        assert srv.peak_in_flight == 3
        assert json.loads((isolated_config / "servers.json").read_text())[srv.url].get("concurrency") is None
        srv.peak_in_flight = 0
        draw(srv.url, 4)
        assert srv.peak_in_flight == 4
