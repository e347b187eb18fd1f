"""Doctest collection over the whole package (``--doctest-modules`` in pyproject.toml).

A module that needs an optional extra which is not installed is left out of doctest
collection instead of failing it; every other import error still fails loudly.
"""

from __future__ import annotations

import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def _module_name(path: Path) -> str | None:
    try:
        parts = list(path.resolve().relative_to(ROOT).with_suffix("").parts)
    except ValueError:
        return None
    if not parts or parts[0] != "thinkcli":
        return None
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def pytest_ignore_collect(collection_path: Path, config):
    if collection_path.suffix != ".py":
        return None
    name = _module_name(collection_path)
    if name is None:
        return None
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] != "thinkcli":
            return True  # an optional dependency this install does not have
        raise
    return None
