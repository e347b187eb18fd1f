"""The local backend: a GGUF model run in-process by llama-cpp-python.

Imported only when a local model is used, so ``think --help`` never pays for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from thinkcli.backends.base import BackendSpec, Capabilities, GenParams, Message, register_backend
from thinkcli.errors import ModelUnavailable, UsageError
from thinkcli.events import Event, Generation, Token, Usage

DEFAULT_CTX = 2048  # small contexts load fast; grown on demand up to the model's own


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
    capabilities = Capabilities(stream=True, logprobs=False, raw_completion=True, batch=False, local=True)

    def __init__(self, path: Path, display: str = "", threads: int | None = None, n_ctx: int | None = None):
        self.path = Path(path)
        self.model = display or self.path.name
        self.threads = threads or physical_cores()
        self._want_ctx = n_ctx
        self._llm = None
        self._formatter = None
        self._load(n_ctx or DEFAULT_CTX)

    # -- loading ---------------------------------------------------------------

    def _load(self, n_ctx: int) -> None:
        try:
            import llama_cpp
        except ImportError as exc:  # pragma: no cover - install problem
            raise ModelUnavailable(
                f"llama-cpp-python is not installed ({exc}); reinstall thinkcli"
            ) from exc
        if not os.access(self.path, os.R_OK):
            raise ModelUnavailable(f"no model at {self.path}; run `think models` to see what is installed")
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(self.path),
                n_ctx=n_ctx,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise ModelUnavailable(
                f"could not load model {self.path}: {exc}; run `think models` to see what is installed"
            ) from exc
        train = int(self._llm.metadata.get(f"{self._arch()}.context_length", 0) or 0)
        self.train_ctx = train or n_ctx
        self.context_size = self.train_ctx if not self._want_ctx else min(self._want_ctx, self.train_ctx)

    def _arch(self) -> str:
        return self._llm.metadata.get("general.architecture", "llama") if self._llm else "llama"

    def _ensure_ctx(self, needed: int) -> None:
        current = self._llm.n_ctx()
        if needed <= current:
            return
        new = min(self.context_size, max(needed, current * 2))
        self._llm.close() if hasattr(self._llm, "close") else None
        self._load(new)

    # -- prompts ---------------------------------------------------------------

    def chat_prompt(self, messages: list[Message]) -> str:
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            template = self._llm.metadata.get("tokenizer.chat_template")
            if not template:  # ChatML, what most small instruct models use
                template = (
                    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
                    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
                    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
                )
            eos = self._token_text(self._llm.token_eos())
            bos = self._token_text(self._llm.token_bos())
            self._formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
        return self._formatter(messages=messages).prompt

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llm._model.token_get_text(token)

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    # -- generation ------------------------------------------------------------

    def generate(self, messages: list[Message], params: GenParams, n: int = 1) -> Iterator[Event]:
        return self.complete(self.chat_prompt(messages), params, n)

    def complete(self, prompt: str, params: GenParams, n: int = 1) -> Iterator[Event]:
        prompt_tokens = self.count_tokens(prompt)
        if prompt_tokens + 1 > self.context_size:
            raise UsageError(
                f"prompt is {prompt_tokens} tokens but the model's context is {self.context_size} tokens; "
                "shorten the input"
            )
        self._ensure_ctx(min(self.context_size, prompt_tokens + params.max_tokens))
        for i in range(n):
            yield from self._one(i, prompt, prompt_tokens, params)

    def _one(self, i: int, prompt: str, prompt_tokens: int, params: GenParams) -> Iterator[Event]:
        seed = params.seed + i if params.seed is not None else None
        max_tokens = min(params.max_tokens, self._llm.n_ctx() - prompt_tokens)
        pieces: list[str] = []
        finish = "stop"
        count = 0
        stream = self._llm.create_completion(
            prompt,
            max_tokens=max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k,
            seed=seed,
            stop=list(params.stop) or None,
            stream=True,
        )
        try:
            for chunk in stream:
                choice = chunk["choices"][0]
                text = choice.get("text") or ""
                if text:
                    count += 1
                    pieces.append(text)
                    yield Token(i, text)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        except GeneratorExit:
            stream.close()
            raise
        text = "".join(pieces)
        completion = self.count_tokens(text) if text else 0
        if finish == "length" and max_tokens < params.max_tokens:
            finish = "context"
        yield Generation(i, text, Usage(prompt_tokens, completion), finish_reason=finish)

    def close(self) -> None:
        if self._llm is not None and hasattr(self._llm, "close"):
            self._llm.close()
        self._llm = None


def _factory(ref, settings) -> LlamaBackend:
    return LlamaBackend(ref.path, display=ref.display, threads=settings.get("threads"), n_ctx=settings.get("context"))


register_backend(BackendSpec("llama", _factory, "GGUF models run in-process by llama.cpp", aliases=("gguf", "local")))
