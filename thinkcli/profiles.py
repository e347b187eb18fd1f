"""Per-model calibration profiles: what `think calibrate` measured, read by the effort presets.

A profile is a TOML file naming, for each effort level, the knobs of the plan that
calibration chose (strategy, prompt style, temperature, selection rule, samples,
stop settings) with the accuracy and tokens it measured. It is keyed by the
model: ``sha256:<hex>`` of a GGUF file (the hash is cached by path, size and
mtime, so it is computed once), or ``model:<name>`` for a remote model. User
profiles live in ``<data dir>/profiles`` (``THINK_PROFILES_DIR`` overrides); the
project ships profiles for the embedded model in ``thinkcli/data/profiles``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from thinkcli.config import PROMPT_STYLES
from thinkcli.errors import UsageError

EFFORT_LEVELS = ("low", "medium", "high", "auto")
# The type of each knob a profile may set for an effort level (strategies.PROFILE_KNOBS is their names).
KNOBS: dict[str, type | tuple[type, ...]] = {
    "strategy": str, "samples": int, "prompt_style": str, "temperature": (int, float), "confidence": (int, float),
    "round_size": int, "select": str, "futility": bool, "probe": int, "probe_greedy": bool, "easy_signal": str,
    "easy_threshold": (int, float)}


def profiles_dir() -> Path:
    env = os.environ.get("THINK_PROFILES_DIR")
    if env:
        return Path(env)
    from thinkcli.files import data_dir

    return data_dir() / "profiles"


def _known_hashes() -> dict[str, str]:
    try:
        known = json.loads((profiles_dir() / "hashes.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{path}|{st.st_size}|{st.st_mtime_ns}"


def file_hash(path: Path, compute: bool = True) -> str | None:
    """``sha256:<hex>`` of a model file, cached by (path, size, mtime) next to the profiles.
    With ``compute=False``, only a cached hash (None when the file was never hashed as it is)."""
    path = Path(path).resolve()
    stamp = _stamp(path)
    known = _known_hashes()
    if isinstance(known.get(stamp), str):
        return known[stamp]
    if not compute:
        return None
    cache_file = profiles_dir() / "hashes.json"
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    key = "sha256:" + digest.hexdigest()
    known = {k: v for k, v in known.items() if not k.startswith(f"{path}|")}  # a changed file's old hash is stale
    known[stamp] = key
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps(known, indent=1), "utf-8")
    except OSError:
        pass  # a read-only data dir only costs rehashing next time
    return key


def model_key(backend) -> str:
    """The key a model's profile is stored under: its file's hash, or its name for a remote model."""
    path = getattr(backend, "path", None)
    if path is not None and Path(path).is_file():
        return file_hash(Path(path))
    return f"model:{backend.model}"


def _filename(key: str) -> str:
    """
    >>> _filename("sha256:ab12"), _filename("model:openai:gpt-4o/mini")
    ('sha256-ab12.toml', 'model-openai-gpt-4o-mini.toml')
    """
    return re.sub(r"[^A-Za-z0-9._-]+", "-", key) + ".toml"


def path_for(key: str) -> Path:
    return profiles_dir() / _filename(key)


def dumps(profile: dict[str, Any]) -> str:
    import tomli_w

    return tomli_w.dumps(profile)


def save(profile: dict[str, Any], path: Path | None = None) -> Path:
    """Write a profile (replacing the model's previous one) and return where."""
    check(profile, "profile")
    path = path or path_for(profile["key"])
    from thinkcli.files import atomic_write

    atomic_write(path, dumps(profile))
    return path


def check(profile: Any, where: str) -> dict[str, Any]:
    """A profile's shape, or a one-line UsageError naming the file."""
    if not isinstance(profile, dict) or not isinstance(profile.get("key"), str):
        raise UsageError(f"{where}: a profile needs a key string")
    efforts = profile.get("effort")
    if not isinstance(efforts, dict) or not efforts:
        raise UsageError(f"{where}: a profile needs [effort.LEVEL] tables")
    for level, knobs in efforts.items():
        if level not in EFFORT_LEVELS or not isinstance(knobs, dict):
            raise UsageError(f"{where}: unknown effort level {level!r}; use {', '.join(EFFORT_LEVELS)}")
        for name, typ in KNOBS.items():
            value = knobs.get(name)
            if value is not None and (not isinstance(value, typ) or (typ is int and isinstance(value, bool))):
                raise UsageError(f"{where}: effort.{level}.{name} has the wrong type ({value!r})")
        if knobs.get("prompt_style") not in (None, *PROMPT_STYLES):
            raise UsageError(f"{where}: effort.{level}.prompt_style must be {', '.join(PROMPT_STYLES[:-1])} "
                             f"or {PROMPT_STYLES[-1]}")
        if isinstance(knobs.get("samples"), int) and knobs["samples"] < 1:
            raise UsageError(f"{where}: effort.{level}.samples must be at least 1")
    return profile


def read(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(Path(path).read_text("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"cannot read profile {path}: {exc}") from None
    data = check(data, str(path))
    data["source"] = str(path)
    return data


@cache
def shipped() -> dict[str, dict[str, Any]]:
    """The profiles that ship with thinkcli, by key."""
    out: dict[str, dict[str, Any]] = {}
    folder = resources.files("thinkcli.data").joinpath("profiles")
    if not folder.is_dir():
        return out
    for entry in folder.iterdir():
        if entry.name.endswith(".toml"):
            data = check(tomllib.loads(entry.read_text("utf-8")), f"shipped profile {entry.name}")
            data["source"] = f"shipped:{entry.name}"
            out[data["key"]] = data
    return out


def find(key: str) -> dict[str, Any] | None:
    """The user's profile for a model key, else the shipped one, else None."""
    path = path_for(key)
    if path.is_file():
        return read(path)
    return shipped().get(key)


def for_backend(backend) -> dict[str, Any] | None:
    """The profile of the model a backend runs, or None when it was never calibrated."""
    try:
        return find(model_key(backend))
    except OSError:
        return None
