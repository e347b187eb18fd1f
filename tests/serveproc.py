"""`think serve` as a real subprocess on a free loopback port, for the tests and the benchmark.

Starts ``python -m thinkcli serve --port 0``, reads the port it printed, waits
for ``/health`` (or only for the socket, with ``wait_ready=False``), keeps
every stderr line (the access log) and stops the process with SIGTERM. Below it,
the fixtures the serve tests share (conftest registers them).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import httpx
import openai
import pytest

from tests.faultserver import DEFAULT_REPLY, FaultServer

LISTENING = re.compile(r"listening on (http://\S+)/v1")


class ServeProcess:
    def __init__(self, *args: str, env: dict | None = None, ready_timeout: float = 120.0, wait_ready: bool = True):
        self.args = ["--port", "0", *args] if "--port" not in args else list(args)
        self.env = {**os.environ, **(env or {})}
        self.ready_timeout = ready_timeout
        self.wait_ready = wait_ready
        self.lines: list[str] = []
        self.proc: subprocess.Popen | None = None
        self.root = ""
        self._seen = threading.Condition()

    @property
    def url(self) -> str:
        return self.root + "/v1"

    def start(self) -> ServeProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "thinkcli", "serve", *self.args], env=self.env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + self.ready_timeout
        with self._seen:
            while not self.root:
                if self.proc.poll() is not None and not self.root:
                    raise RuntimeError(f"think serve exited with {self.proc.returncode}: {self.stderr()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"think serve printed no address: {self.stderr()}")
                self._seen.wait(0.2)
        while self.wait_ready:
            try:
                if httpx.get(self.root + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"think serve not ready: {self.stderr()}")
            time.sleep(0.1)
        return self

    def _read(self) -> None:
        for line in self.proc.stderr:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                found = LISTENING.search(line)
                if found:
                    self.root = found.group(1)
                self._seen.notify_all()

    def stderr(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = 30.0) -> str:
        """The first stderr line matching ``pattern`` (a regex), waiting for it to appear."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        with self._seen:
            while True:
                for line in self.lines:
                    if rx.search(line):
                        return line
                if time.monotonic() > deadline:
                    raise AssertionError(f"no line matching {pattern!r} in: {self.stderr()}")
                self._seen.wait(0.2)

    def terminate(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None:
            return 0
        self.terminate()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
            raise

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- pytest fixtures (registered in conftest): think serve in front of the fault server ----

QUESTION = [{"role": "user", "content": "What is 2 + 2?"}]


@pytest.fixture(scope="module")
def serve_upstream():
    with FaultServer(token_delay=0.005) as fs:
        yield fs


@pytest.fixture(scope="module")
def served(serve_upstream, tmp_path_factory):
    home = tmp_path_factory.mktemp("serve")
    env = {"THINK_CONFIG_DIR": str(home), "THINK_HISTORY_DB": str(home / "history.db"), "OPENAI_API_KEY": ""}
    with ServeProcess("-m", "openai:fault-model", "--base-url", serve_upstream.url, "--max-retries", "1", env=env) as sp:
        yield sp


@pytest.fixture
def fs(serve_upstream):
    serve_upstream.faults.clear()
    serve_upstream.requests.clear()
    serve_upstream.reply = DEFAULT_REPLY
    serve_upstream.delay = 0.0
    return serve_upstream


@pytest.fixture
def sdk(served):
    return openai.OpenAI(base_url=served.url, api_key="unused", max_retries=0, timeout=60)


def post(sp: ServeProcess, body, **kw) -> httpx.Response:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return httpx.post(sp.url + "/chat/completions", content=raw, timeout=60,
                      headers={"content-type": "application/json", **kw.pop("headers", {})}, **kw)


