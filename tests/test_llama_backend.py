"""The local backend as think uses it: loading, threads, templating, the CLI and the engine."""

from __future__ import annotations

import json
import subprocess
import sys

import llama_cpp
import pytest

from thinkcli.backends.base import GenParams
from thinkcli.backends.llama import LlamaBackend, _factory, physical_cores
from thinkcli.backends.models import ModelRef
from thinkcli.engine import Request, run
from thinkcli.errors import ModelUnavailable
from thinkcli.events import Generation, ListSink, SampleStarted, Token

pytestmark = pytest.mark.model

QUESTION = [{"role": "user", "content": "Name a colour of the sky."}]


@pytest.fixture(scope="module")
def backend(embedded_model):
    b = LlamaBackend(embedded_model)
    yield b
    b.close()


def test_declares_what_it_can_do(backend):
    caps = backend.capabilities
    assert caps.logprobs and caps.batch and caps.raw_completion and caps.stream and caps.local
    assert backend.context_size == 8192  # SmolLM2's training context


def test_threads_default_to_physical_cores_and_can_be_overridden(embedded_model, backend):
    assert backend.threads == physical_cores()
    one = _factory(ModelRef("llama", "m", path=embedded_model), {"threads": 1})
    try:
        list(one.generate(QUESTION, GenParams(max_tokens=2), 1))
        ctx = one._decoders[0].ctx
        assert llama_cpp.llama_n_threads(ctx) == 1 and llama_cpp.llama_n_threads_batch(ctx) == 1
    finally:
        one.close()


def test_chat_prompt_uses_the_models_template(backend):
    prompt = backend.chat_prompt(QUESTION)
    assert prompt.endswith("<|im_start|>assistant\n")
    assert "<|im_start|>user\nName a colour of the sky.<|im_end|>" in prompt
    # Special tokens count as one token each.
    assert backend.count_tokens("<|im_start|>") == 1
    assert backend.count_tokens("") == 0


def test_unloadable_files_are_model_unavailable(tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ModelUnavailable, match="no model at"):
        LlamaBackend(missing)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ModelUnavailable, match="could not load model"):
        LlamaBackend(broken)


def test_engine_streams_samples_interleaved(backend):
    sink = ListSink()
    result = run(Request("Name a colour of the sky.", strategy="best-of-n", samples=3, max_tokens=12, seed=4),
                 sink, backend=backend)
    assert result.samples_drawn == 3
    assert sorted(e.sample for e in sink.of(SampleStarted)) == [0, 1, 2]
    tokens = [e.sample for e in sink.of(Token)]
    assert tokens[:3] == [0, 1, 2]  # one token of each sample before the second of any
    assert all(c.mean_logprob is not None and c.mean_logprob < 0 for c in result.candidates)


def test_ctrl_c_mid_batch_returns_finished_samples_and_backend_still_works(backend):
    class StopAfterTwo(ListSink):
        def emit(self, event):
            super().emit(event)
            if isinstance(event, Generation) and len(self.of(Generation)) == 2:
                raise KeyboardInterrupt

    sink = StopAfterTwo()
    result = run(Request("Tell me a long story.", strategy="best-of-n", samples=4, max_tokens=48, seed=2),
                 sink, backend=backend)
    assert result.interrupted
    finished = {g.sample for g in sink.of(Generation)}
    assert len(finished) == 2
    again = run(Request("Name a colour of the sky.", strategy="best-of-n", samples=2, max_tokens=8, seed=1),
                ListSink(), backend=backend)
    assert again.samples_drawn == 2 and not again.interrupted


def _think_json(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "thinkcli", *args, "--json"], capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=600)
    assert proc.returncode == 0, proc.stderr.decode()
    return json.loads(proc.stdout)


def test_the_same_seeded_command_gives_the_same_samples():
    args = ("Name a colour of the sky.", "--strategy", "best-of-n", "-n", "3", "--max-tokens", "16", "--seed", "11")
    first, second = _think_json(*args), _think_json(*args)
    texts = [s["text"] for s in first["samples"]]
    assert len(texts) == 3
    assert texts == [s["text"] for s in second["samples"]]
    assert first["answer"] == second["answer"]


def test_amx_weight_buffers_are_off_where_the_cpu_advertises_amx(monkeypatch):
    """llama.cpp's AMX buffers crash decoding in VMs that drop tile state (SIGSEGV on this
    machine's Sapphire Rapids guest); thinkcli loads weights into plain CPU buffers there."""
    from thinkcli.backends import llama_batch

    monkeypatch.delenv("THINKCLI_LLAMA_AMX", raising=False)
    monkeypatch.setattr(llama_batch, "cpu_has_amx", lambda cpuinfo=None: True)
    assert llama_batch.model_params().use_extra_bufts is False
    monkeypatch.setenv("THINKCLI_LLAMA_AMX", "1")
    assert llama_batch.model_params().use_extra_bufts is True
    monkeypatch.setattr(llama_batch, "cpu_has_amx", lambda cpuinfo=None: False)
    monkeypatch.delenv("THINKCLI_LLAMA_AMX")
    assert llama_batch.model_params().use_extra_bufts is True
