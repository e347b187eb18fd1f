"""The local backend: a GGUF model run in-process by llama.cpp.

Owns the Backend face of a local model: loading, chat templating, token
counting, the context-size limit, thread defaults, and handing sampling to the
batched decoder (llama_batch.py). Imported only when a local model is used, so
``think --help`` never pays for llama.cpp.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from thinkcli.backends.base import BackendSpec, Capabilities, GenParams, Message, register_backend
from thinkcli.errors import ModelUnavailable, UsageError
from thinkcli.events import Event

DEFAULT_CTX = 2048  # for a model file that does not state its training context


def physical_cores() -> int:
    """Physical cores (hyper-threads share one core's arithmetic units)."""
    try:
        with open("/proc/cpuinfo") as f:
            pairs = {
                (blk.get("physical id"), blk.get("core id"))
                for blk in (
                    dict(
                        (k.strip(), v.strip())
                        for k, _, v in (ln.partition(":") for ln in chunk.splitlines())
                    )
                    for chunk in f.read().split("\n\n")
                    if chunk.strip()
                )
                if blk.get("core id") is not None
            }
        if pairs:
            return len(pairs)
    except OSError:
        pass
    return max(1, (os.cpu_count() or 2) // 2) if (os.cpu_count() or 1) > 2 else (os.cpu_count() or 1)


class LlamaBackend:
    """A local GGUF model: chat templating, token counting, and batched sampling.

    Sampling runs in ``llama_batch.Decoder``: the prompt is evaluated once, all
    samples of a call decode together, and the KV of the last prompt is kept so
    the next call re-reads only what changed.
    """

    capabilities = Capabilities(stream=True, logprobs=True, raw_completion=True, batch=True, local=True)
    ignore_eos = False  # benchmarks set this to force full-length samples

    def __init__(self, path: Path, display: str = "", threads: int | None = None, n_ctx: int | None = None):
        self.path = Path(path)
        self.model = display or self.path.name
        self.threads = threads or physical_cores()
        self._want_ctx = n_ctx
        self._formatter = None
        self._decoders: list = []  # contexts on the one model; a nested call gets its own
        self._busy: set[int] = set()
        self._load()

    # -- loading ---------------------------------------------------------------

    def _load(self) -> None:
        if not os.access(self.path, os.R_OK):
            raise ModelUnavailable(f"no model at {self.path}; run `think models` to see what is installed")
        try:
            from thinkcli.backends import llama_batch
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelUnavailable(
                f"llama-cpp-python is not installed ({exc}); reinstall thinkcli"
            ) from exc
        self._lib = llama_batch
        self._model = llama_batch.Model(self.path)
        self.train_ctx = self._model.train_ctx or DEFAULT_CTX
        self.context_size = self.train_ctx if not self._want_ctx else min(self._want_ctx, self.train_ctx)

    def _acquire(self):
        for d in self._decoders:
            if id(d) not in self._busy:
                break
        else:
            d = self._lib.Decoder(self._model, self.threads)
            self._decoders.append(d)
        self._busy.add(id(d))
        return d

    # -- prompts ---------------------------------------------------------------

    def chat_prompt(self, messages: list[Message]) -> str:
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = self._model.meta("tokenizer.chat_template")
            if not template:  # ChatML, what most small instruct models use
                template = (
                    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
                    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
                    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
                )
            eos = self._model.token_text(self._model.eos())
            bos = self._model.token_text(self._model.bos())
            self._formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
        return self._formatter(messages=messages).prompt

    def count_tokens(self, text: str) -> int:
        return len(self._model.tokenize(text, add_special=False))

    # -- generation ------------------------------------------------------------

    def generate(self, messages: list[Message], params: GenParams, n: int = 1) -> Iterator[Event]:
        return self.complete(self.chat_prompt(messages), params, n)

    def complete(self, prompt: str, params: GenParams, n: int = 1) -> Iterator[Event]:
        tokens = self._model.tokenize(prompt, add_special=True)
        if len(tokens) + 1 > self.context_size:
            raise UsageError(
                f"prompt is {len(tokens)} tokens but the model's context is {self.context_size} tokens; "
                "shorten the input"
            )
        return self._run(tokens, params, n)

    def _run(self, tokens: list[int], params: GenParams, n: int) -> Iterator[Event]:
        if n <= 0:
            return
        decoder = self._acquire()
        try:
            yield from decoder.run(tokens, params, n, self.context_size, ignore_eos=self.ignore_eos)
        finally:
            self._busy.discard(id(decoder))

    def forget(self) -> None:
        """Forget every cached prompt: the next call's samples then depend only on that call
        and its seeds, not on what this process decoded before. A seeded request starts here
        (``engine.run``), so ``--seed`` repeats in a long-lived process (``think serve``, the
        library) as it does from a fresh one; an unseeded one keeps the cached prefix."""
        for d in self._decoders:
            if id(d) not in self._busy:
                d.forget()

    def close(self) -> None:
        for d in self._decoders:
            d.close()
        self._decoders = []
        if getattr(self, "_model", None) is not None:
            self._model.close()
            self._model = None


def _factory(ref, settings) -> LlamaBackend:
    return LlamaBackend(ref.path, display=ref.display, threads=settings.get("threads"), n_ctx=settings.get("context"))


register_backend(BackendSpec("llama", _factory, "GGUF models run in-process by llama.cpp", aliases=("gguf", "local")))
