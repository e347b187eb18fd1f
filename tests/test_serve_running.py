"""`think serve` run for real, part two: tools, servers started with their own flags (key,
queue, disconnect, SIGTERM), the command line, `llm` as a client, and the README's examples.

The fixtures (a fault-server upstream, one server per module, the SDK) are in tests/serveproc.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.faultserver import DEFAULT_REPLY
from tests.serveproc import QUESTION, ServeProcess, post

pytestmark = pytest.mark.server


# -- tools ----------------------------------------------------------------------------------

WEATHER = [{"type": "function", "function": {"name": "weather", "description": "Weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]


@pytest.fixture
def tool_upstream(fs):
    fs.tool_calls = [{"name": "weather", "arguments": '{"city": "Paris"}'}]
    yield fs
    fs.tool_calls = None


def test_tools_pass_through_and_tool_calls_stream_back(sdk, tool_upstream):
    calls: dict[int, dict] = {}
    finish = None
    for chunk in sdk.chat.completions.create(model="think-low", messages=QUESTION, tools=WEATHER,
                                                tool_choice="auto", stream=True):
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": None, "name": "", "arguments": ""})
                call["id"] = delta.id or call["id"]
                call["name"] += (delta.function.name or "") if delta.function else ""
                call["arguments"] += (delta.function.arguments or "") if delta.function else ""
    assert calls == {0: {"id": "call_0", "name": "weather", "arguments": '{"city": "Paris"}'}}
    assert finish == "tool_calls"
    sent = tool_upstream.completion_requests()[0]["body"]
    assert sent["tools"] == WEATHER and sent["tool_choice"] == "auto"


def test_tool_calls_in_a_whole_reply_and_the_tool_result_turn(sdk, tool_upstream):
    reply = sdk.chat.completions.create(model="think-low", messages=QUESTION, tools=WEATHER)
    [call] = reply.choices[0].message.tool_calls
    assert (call.id, call.function.name, call.function.arguments) == ("call_0", "weather", '{"city": "Paris"}')
    assert reply.choices[0].finish_reason == "tool_calls"
    turn = [*QUESTION, reply.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": "call_0", "content": "sunny"}]
    sdk.chat.completions.create(model="think-low", messages=turn, tools=WEATHER)
    assert tool_upstream.completion_requests()[-1]["body"]["messages"][-1]["role"] == "tool"


def test_tools_at_a_scaled_effort_are_refused_not_dropped(sdk, tool_upstream):
    with pytest.raises(openai.BadRequestError) as info:
        sdk.chat.completions.create(model="think-medium", messages=QUESTION, tools=WEATHER)
    assert "effort low only" in info.value.message
    assert not tool_upstream.completion_requests()


# -- servers with their own flags -----------------------------------------------------------


def serve(fs, *flags: str, **kw) -> ServeProcess:
    return ServeProcess("-m", "openai:fault-model", "--base-url", fs.url, *flags,
                        env={"OPENAI_API_KEY": ""}, **kw)


def test_an_api_key_is_required_when_set(fs):
    with serve(fs, "--api-key", "s3cret-key") as sp:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "Basic s3cret-key"}):
            resp = post(sp, {"model": "think-low", "messages": QUESTION}, headers=headers)
            assert resp.status_code == 401 and resp.json()["error"]["code"] == "invalid_api_key"
        assert httpx.get(sp.url + "/models", timeout=10).status_code == 401
        good = openai.OpenAI(base_url=sp.url, api_key="s3cret-key", max_retries=0)
        assert good.chat.completions.create(model="think-low", messages=QUESTION).choices[0].message.content
        assert "s3cret-key" not in sp.stderr()


def test_a_full_queue_answers_429(fs):
    fs.delay = 1.5
    with serve(fs, "--max-concurrency", "1", "--max-queue", "0") as sp:
        first = threading.Thread(target=post, args=(sp, {"model": "think-low", "messages": QUESTION}))
        first.start()
        sp.wait_for_line("think serve: ready")
        while not fs.completion_requests():
            time.sleep(0.05)
        resp = post(sp, {"model": "think-low", "messages": QUESTION})
        first.join()
    assert resp.status_code == 429 and resp.json()["error"]["type"] == "rate_limit_error"


def test_client_disconnect_mid_stream_cancels_the_run(fs):
    fs.reply = " ".join(["word"] * 400) + "\nFinal answer: 4"
    fs.token_delay = 0.02  # about 8 s per sample
    try:
        with serve(fs) as sp:
            body = {"model": "think-medium", "messages": QUESTION, "stream": True}
            with httpx.stream("POST", sp.url + "/chat/completions", json=body, timeout=60) as resp:
                for line in resp.iter_lines():
                    if "sample 1 started" in line:
                        break
            line = sp.wait_for_line(r"status=499", timeout=30)  # logged once the run has stopped
            assert "effort=medium" in line
            time.sleep(1.0)
            assert len(fs.completion_requests()) == 1  # no second round was drawn
            assert httpx.get(sp.root + "/health", timeout=5).json()["running"] == 0
    finally:
        fs.token_delay = 0.005


def test_sigterm_lets_runs_in_flight_finish_and_exits_0(fs):
    fs.delay = 1.5
    sp = serve(fs, "--grace", "20").start()
    got = {}

    def ask():
        got["resp"] = post(sp, {"model": "think-low", "messages": QUESTION})

    asker = threading.Thread(target=ask)
    asker.start()
    while not fs.completion_requests():
        time.sleep(0.05)
    started = time.monotonic()
    sp.terminate()
    assert sp.proc.wait(timeout=20) == 0
    asker.join()
    assert got["resp"].status_code == 200 and got["resp"].json()["choices"][0]["message"]["content"] == DEFAULT_REPLY
    assert time.monotonic() - started < 10


def test_sigterm_cancels_runs_that_outlast_the_grace_period(fs):
    fs.reply = " ".join(["word"] * 400) + "\nFinal answer: 4"
    fs.token_delay = 0.05  # 20 s of streaming
    try:
        sp = serve(fs, "--grace", "1").start()
        got = {}
        asker = threading.Thread(target=lambda: got.setdefault("resp", post(sp, {"model": "think-low", "messages": QUESTION})))
        asker.start()
        while not fs.completion_requests():
            time.sleep(0.05)
        time.sleep(0.5)
        started = time.monotonic()
        sp.terminate()
        assert sp.proc.wait(timeout=20) == 0
        assert time.monotonic() - started < 8
        asker.join()
        reply = got["resp"].json()
        assert got["resp"].status_code == 200
        assert reply["choices"][0]["message"]["content"].startswith("word word")  # the text so far
    finally:
        fs.token_delay = 0.005


# -- the command line --------------------------------------------------------------------------


def test_a_public_host_needs_an_api_key(think):
    proc = think("serve", "--host", "0.0.0.0", "-m", "openai:x")
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("think: error: --host 0.0.0.0 lets other machines in; give --api-key")


def test_without_the_serve_extra_one_line_names_it():
    code = ("import sys; sys.modules['uvicorn'] = None\n"
            "from thinkcli.cli import main; sys.argv = ['think', 'serve']; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert proc.stderr == "think: error: think serve needs uvicorn, which is not installed; run pip install 'thinkcli[serve]'\n"


def test_a_port_in_use_is_one_error_line(think, served):
    port = served.root.rsplit(":", 1)[1]
    proc = think("serve", "--port", port, "-m", "openai:x", timeout=60)
    assert proc.returncode == 1 and proc.stderr.decode().startswith(f"think: error: cannot listen on 127.0.0.1:{port}")
    assert b"Traceback" not in proc.stderr


def test_a_model_that_cannot_load_stops_the_server_with_its_status(think, tmp_path):
    proc = think("serve", "--port", "0", "-m", str(tmp_path / "missing.gguf"), timeout=60)
    assert proc.returncode == 3 and "think: error: no model at" in proc.stderr.decode()
    assert b"Traceback" not in proc.stderr


# -- a client nobody here wrote ---------------------------------------------------------------


@pytest.mark.parametrize("model", ["think-low", "think-medium"])
def test_llm_answers_a_prompt_through_the_server(served, fs, tmp_path, model):
    """`llm` (simonw/llm) with the server configured as an OpenAI-compatible model, as the README shows."""
    [yaml] = re.findall(r"```yaml\n(.*?)```", readme_serve_section(), re.S)
    yaml = yaml.replace("http://127.0.0.1:8600/v1", served.url).replace("think-medium", model)
    (tmp_path / "extra-openai-models.yaml").write_text(yaml)
    env = {**os.environ, "LLM_USER_PATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "llm", "-m", model, "What is 2 + 2?"], env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == DEFAULT_REPLY
    assert fs.completion_requests()  # it really went through the upstream


# -- the README's examples ---------------------------------------------------------------------


def readme_serve_section() -> str:
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = text.index("## `think serve`")
    return text[start:text.index("\n## ", start + 1)]


def test_the_readme_python_example_runs_against_the_server(served, fs):
    [code] = re.findall(r"```python\n(.*?)```", readme_serve_section(), re.S)
    code = code.replace("http://127.0.0.1:8600/v1", served.url)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    answer, votes = proc.stdout.splitlines()[0], proc.stdout.splitlines()[-1]
    assert DEFAULT_REPLY.splitlines()[0] == answer and "{'4':" in votes


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_readme_curl_example_runs_against_the_server(served, fs):
    [command] = [b for b in re.findall(r"```sh\n(.*?)```", readme_serve_section(), re.S) if b.startswith("curl")]
    proc = subprocess.run(["bash", "-c", command.replace("http://127.0.0.1:8600", served.root)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["choices"][0]["message"]["content"] == DEFAULT_REPLY

