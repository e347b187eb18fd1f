"""The batched decoder behind the local backend: llama.cpp's C API through ctypes.

``Model`` owns the loaded weights, the tokenizer and the metadata. ``Decoder``
owns one context whose KV cache is laid out as: sequence 0 holds the last
evaluated prompt (reused across calls up to the longest common token prefix,
until ``forget``),
sequences 1..B hold the live samples. A sample starts by copying the prompt's
KV from sequence 0 and decoding the prompt's last token itself, so every step
is one ``llama_decode`` with exactly one token per live sample, and a finished
sample's slot is refilled by the next pending one without re-reading the prompt.
"""

from __future__ import annotations

import ctypes
import os
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import llama_cpp as L
import numpy as np

from thinkcli.backends.base import GenParams
from thinkcli.backends.llama_stream import SampleText
from thinkcli.errors import BackendError, ModelUnavailable
from thinkcli.events import Event, Generation, Token
from thinkcli.signals import logit_stats

BATCH_CAP = 16  # most samples decoded together; past this a 2-core CPU gains nothing
KV_BUDGET = 128 << 20  # bytes of KV cache the batch may grow to before it narrows
PROMPT_CHUNK = 256  # prompt tokens per llama_decode; sizes the compute buffer
CELL_ROUND = 256  # KV cells are allocated in steps, so nearby runs reuse a context
# Flash attention skips other samples' KV cells and sums each sample's cells in the same
# order, so greedy samples of one batch come out identical (plain attention does not).
FLASH_ATTN = L.LLAMA_FLASH_ATTN_TYPE_ENABLED


@L.llama_log_callback
def _quiet(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    """llama.cpp logs model loading to stderr; thinkcli reports failures itself."""


_ready = False


def _init() -> None:
    global _ready
    if not _ready:
        L.llama_log_set(_quiet, ctypes.c_void_p(0))
        L.llama_backend_init()
        _ready = True


def cpu_has_amx(cpuinfo: str | None = None) -> bool:
    """Whether the CPU advertises Intel AMX tiles (Linux /proc/cpuinfo flags).

    >>> cpu_has_amx("flags : fpu avx512f amx_bf16 amx_tile amx_int8"), cpu_has_amx("flags : fpu avx2")
    (True, False)
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text("utf-8", "replace")
        except OSError:
            return False
    return any(line.startswith("flags") and "amx_tile" in line.split() for line in cpuinfo.splitlines())


def model_params():
    """llama.cpp's model parameters, without its extra weight buffers on a CPU with AMX.

    llama.cpp moves the weights into AMX tile buffers when the CPU advertises AMX, and
    decoding then dies with SIGSEGV where the guest does not keep tile state (seen in
    Firecracker VMs on Sapphire Rapids hosts). Plain CPU buffers decode the same tokens.
    THINKCLI_LLAMA_AMX=1 keeps llama.cpp's choice (bare metal, where AMX works).
    """
    return _without_amx(L.llama_model_default_params())


def _without_amx(params):
    if cpu_has_amx() and os.environ.get("THINKCLI_LLAMA_AMX") != "1":
        params.use_extra_bufts = False
    return params


def patch_llama_cpp() -> None:
    """Make llama-cpp-python's own ``Llama`` (and its server) load models with ``model_params``
    (for tests and benchmarks that run llama-cpp-python directly beside thinkcli)."""
    import llama_cpp.llama_cpp as raw

    if getattr(raw.llama_model_default_params, "_thinkcli", False):
        return
    default = raw.llama_model_default_params

    def params():
        return _without_amx(default())

    params._thinkcli = True
    raw.llama_model_default_params = params


class Model:
    """A GGUF model loaded once per backend; contexts come and go around it."""

    def __init__(self, path: Path) -> None:
        _init()
        params = model_params()
        self.ptr = L.llama_model_load_from_file(str(path).encode(), params)
        if not self.ptr:
            raise ModelUnavailable(
                f"could not load model {path}: llama.cpp rejected the file; run `think models` to see what is installed"
            )
        self.vocab = L.llama_model_get_vocab(self.ptr)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        self.train_ctx = int(L.llama_model_n_ctx_train(self.ptr))
        self._pieces: dict[int, bytes] = {}
        n_head = max(1, L.llama_model_n_head(self.ptr))
        head_dim = L.llama_model_n_embd(self.ptr) // n_head
        # K and V in f16 for every layer: what one KV cell costs.
        self.cell_bytes = max(1, 2 * 2 * L.llama_model_n_layer(self.ptr) * L.llama_model_n_head_kv(self.ptr) * head_dim)

    def meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(1 << 16)
        n = L.llama_model_meta_val_str(self.ptr, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", "replace") if n >= 0 else None

    def tokenize(self, text: str, add_special: bool) -> list[int]:
        data = text.encode("utf-8")
        size = len(data) + 8
        while True:
            out = (L.llama_token * size)()
            n = L.llama_tokenize(self.vocab, data, len(data), out, size, add_special, True)
            if n >= 0:
                return list(out[:n])
            size = -n

    def piece(self, token: int) -> bytes:
        """The bytes a generated token stands for (special tokens render as nothing)."""
        cached = self._pieces.get(token)
        if cached is None:
            buf = ctypes.create_string_buffer(256)
            n = L.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
            cached = self._pieces[token] = buf.raw[: max(0, n)]
        return cached

    def token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return (L.llama_vocab_get_text(self.vocab, token) or b"").decode("utf-8", "replace")

    def bos(self) -> int:
        return L.llama_vocab_bos(self.vocab)

    def eos(self) -> int:
        return L.llama_vocab_eos(self.vocab)

    def is_eog(self, token: int) -> bool:
        return bool(L.llama_vocab_is_eog(self.vocab, token))

    def close(self) -> None:
        if self.ptr:
            L.llama_model_free(self.ptr)
            self.ptr = None


@dataclass
class _Live:
    """A sample being decoded in one slot (sequence id) of the context."""

    index: int
    slot: int
    sampler: object
    text: SampleText
    pos: int  # position of ``feed`` in the sequence
    feed: int  # token to decode next step
    fed: list[int]  # tokens decoded into the slot past the shared prompt
    cached: int  # prompt tokens this sample did not evaluate itself


def _sampler(params: GenParams, seed: int):
    chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
    if params.temperature <= 0:
        L.llama_sampler_chain_add(chain, L.llama_sampler_init_greedy())
        return chain
    if params.top_k and params.top_k > 0:
        L.llama_sampler_chain_add(chain, L.llama_sampler_init_top_k(params.top_k))
    if params.top_p is not None and params.top_p < 1.0:
        L.llama_sampler_chain_add(chain, L.llama_sampler_init_top_p(params.top_p, 1))
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_temp(params.temperature))
    L.llama_sampler_chain_add(chain, L.llama_sampler_init_dist(seed))
    return chain


class Decoder:
    """One llama.cpp context: the prompt cache in sequence 0 and up to BATCH_CAP samples."""

    def __init__(self, model: Model, threads: int) -> None:
        self.model = model
        self.threads = threads
        self.ctx = None
        self.n_ctx = 0
        self.cached: list[int] = []  # tokens whose KV sequence 0 holds, from position 0
        self.reused = 0  # prompt tokens the last call did not have to evaluate
        self._batch = L.llama_batch_init(max(PROMPT_CHUNK, BATCH_CAP), 0, 1)

    # -- the context -------------------------------------------------------------

    def width(self, n: int, prompt: int, gen: int) -> int:
        """How many samples decode together: all of them, within the cap and the KV budget."""
        budget = max(KV_BUDGET // self.model.cell_bytes - prompt, gen + 1)
        return max(1, min(n, BATCH_CAP, budget // (gen + 1)))

    def _ensure(self, cells: int) -> None:
        if self.ctx is not None and self.n_ctx >= cells:
            return
        self._free_ctx()
        p = L.llama_context_default_params()
        p.n_ctx = -(-cells // CELL_ROUND) * CELL_ROUND
        p.n_batch = p.n_ubatch = max(PROMPT_CHUNK, BATCH_CAP)
        p.n_seq_max = BATCH_CAP + 1
        p.kv_unified = True  # samples share the prompt's cells instead of each holding a copy
        p.n_threads = p.n_threads_batch = self.threads
        p.no_perf = True
        p.flash_attn_type = FLASH_ATTN
        ctx = L.llama_init_from_model(self.model.ptr, p)
        if not ctx:
            raise BackendError(f"llama.cpp could not make a context of {p.n_ctx} tokens (out of memory?)")
        self.ctx, self.n_ctx = ctx, L.llama_n_ctx(ctx)
        self.mem = L.llama_get_memory(ctx)
        self.cached = []

    def _free_ctx(self) -> None:
        if self.ctx is not None:
            L.llama_free(self.ctx)
            self.ctx = None
            self.cached = []

    def forget(self) -> None:
        """Drop the cached prompt, so the next call evaluates its prompt from an empty cache.

        Reusing a cached prefix is fast but not neutral: llama.cpp's sums come out slightly
        different when a prompt is evaluated in other pieces or its KV cells lie elsewhere,
        so samples would depend on what this context decoded before.
        """
        if self.ctx is not None:
            L.llama_memory_clear(self.mem, True)
        self.cached = []

    def close(self) -> None:
        self._free_ctx()
        if self._batch is not None:
            L.llama_batch_free(self._batch)
            self._batch = None

    # -- the shared prompt -------------------------------------------------------------

    def _sync_prompt(self, prefix: list[int]) -> None:
        """Make sequence 0 hold exactly ``prefix``, evaluating only what the cache lacks."""
        keep = 0
        for a, b in zip(self.cached, prefix, strict=False):
            if a != b:
                break
            keep += 1
        if not L.llama_memory_seq_rm(self.mem, 0, keep, -1):
            L.llama_memory_clear(self.mem, True)  # recurrent models cannot drop a tail
            keep = 0
        self.cached = prefix[:keep]
        self.reused = keep
        b = self._batch
        while keep < len(prefix):
            chunk = prefix[keep : keep + PROMPT_CHUNK]
            for j, tok in enumerate(chunk):
                b.token[j], b.pos[j], b.n_seq_id[j], b.logits[j] = tok, keep + j, 1, 0
                b.seq_id[j][0] = 0
            b.n_tokens = len(chunk)
            if self._decode("the prompt"):
                raise BackendError(f"the KV cache ({self.n_ctx} tokens) has no room for the prompt")
            keep += len(chunk)
            self.cached = prefix[:keep]

    def _decode(self, what: str) -> int:
        rc = L.llama_decode(self.ctx, self._batch)
        if rc < 0 or rc == 2:
            L.llama_memory_clear(self.mem, True)
            self.cached = []
            raise BackendError(f"llama.cpp failed to decode {what} (error {rc})")
        return rc

    # -- the batch -------------------------------------------------------------------

    def run(self, tokens: list[int], params: GenParams, n: int, context_size: int,
            ignore_eos: bool = False) -> Iterator[Event]:
        """Draw ``n`` samples continuing ``tokens``; yield Token and Generation events.

        Local sample ``i`` uses seed ``params.seed + i``, so a seeded run repeats.
        """
        P = len(tokens)
        gen = max(1, min(params.max_tokens, context_size - P))
        width = self.width(n, P, gen)
        self._ensure(P + width * (gen + 1))
        self._sync_prompt(tokens[:-1])
        base_seed = params.seed if params.seed is not None else random.getrandbits(31)
        window, stop_below = params.window, params.confidence_stop if params.logprobs else None
        pending = deque(range(n))
        free = list(range(width, 0, -1))
        live: list[_Live] = []
        try:
            while pending or live:
                while free and pending:
                    i = pending.popleft()
                    slot = free.pop()
                    if P > 1:
                        L.llama_memory_seq_cp(self.mem, 0, slot, 0, P - 1)
                    seed = (base_seed + i) & 0xFFFFFFFF
                    cached = self.reused if i == 0 else P - 1  # only sample 0 paid for the prompt
                    live.append(_Live(i, slot, _sampler(params, seed), SampleText(params.stop), P - 1, tokens[-1], [], cached))
                b = self._batch
                for j, s in enumerate(live):
                    b.token[j], b.pos[j], b.n_seq_id[j], b.logits[j] = s.feed, s.pos, 1, 1
                    b.seq_id[j][0] = s.slot
                b.n_tokens = len(live)
                if self._decode("the samples") == 1:
                    # The KV cache is full: end the longest sample for lack of context.
                    s = max(live, key=lambda x: x.text.tokens)
                    yield from self._end(s, live, free, P, "context", params)
                    continue
                for s in live:
                    s.fed.append(s.feed)
                done: list[tuple[_Live, str]] = []
                chosen = [L.llama_sampler_sample(s.sampler, self.ctx, j) for j in range(len(live))]
                stats = self._stats(len(live), chosen) if params.logprobs else None
                for j, (s, tok) in enumerate(zip(live, chosen, strict=True)):
                    if self.model.is_eog(tok) and not ignore_eos:
                        done.append((s, "stop"))
                        continue
                    per = (float(stats[0][j]), float(stats[1][j]), float(stats[2][j])) if stats else ()
                    shown = s.text.feed(self.model.piece(tok), *per)
                    if shown:
                        yield Token(s.index, shown)
                    s.pos, s.feed = s.pos + 1, tok
                    if s.text.stopped:
                        done.append((s, "stop"))
                    elif stop_below is not None and (g := s.text.trace.group(window)) is not None and g < stop_below:
                        done.append((s, "low-confidence"))  # DeepConf online: its slot goes to the next sample
                    elif s.text.tokens >= params.max_tokens:
                        done.append((s, "length"))
                    elif P + s.text.tokens >= context_size:
                        done.append((s, "context"))
                for s, why in done:
                    yield from self._end(s, live, free, P, why, params, keep=(n == 1))
        finally:
            for s in live:
                L.llama_memory_seq_rm(self.mem, s.slot, -1, -1)
                L.llama_sampler_free(s.sampler)

    def _end(self, s: _Live, live: list[_Live], free: list[int], P: int, why: str,
             params: GenParams, keep: bool = False) -> Iterator[Generation]:
        """Finish a sample: release its slot for the next pending one, report it."""
        live.remove(s)
        if keep and len(self.cached) == P - 1:
            # A lone sample's continuation stays cached: the next call often extends it.
            L.llama_memory_seq_cp(self.mem, s.slot, 0, P - 1, -1)
            self.cached = self.cached + s.fed
        L.llama_memory_seq_rm(self.mem, s.slot, -1, -1)
        L.llama_sampler_free(s.sampler)
        free.append(s.slot)
        tail = s.text.flush()
        if tail:
            yield Token(s.index, tail)
        yield s.text.generation(s.index, P, why, params.logprobs, cached=s.cached, window=params.window)

    def _stats(self, rows: int, chosen: list[int]):
        """Log-prob, self-certainty term and DeepConf confidence of every live sample's token,
        from this step's logit rows (one per live sample, contiguous) in one vectorised pass."""
        logits = np.ctypeslib.as_array(L.llama_get_logits(self.ctx), shape=(rows, self.model.n_vocab))
        return logit_stats(logits, chosen)
