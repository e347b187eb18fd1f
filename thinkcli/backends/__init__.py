"""Backends: model runners behind one protocol, found by the scheme of a model reference."""

from __future__ import annotations

import importlib
import sys
import types

from thinkcli.backends.base import BACKENDS, Backend, BackendSpec, register_backend
from thinkcli.errors import ModelUnavailable

__all__ = ["BACKENDS", "Backend", "BackendSpec", "register_backend", "load"]

# Built-in schemes and the module that registers each; imported only when used.
BUILTIN = {
    "llama": "thinkcli.backends.llama",
    "gguf": "thinkcli.backends.llama",
    "local": "thinkcli.backends.llama",
    "openai": "thinkcli.backends.openai",
}


def _httpx_without_its_cli() -> None:
    """Keep ``import httpx`` from importing httpx's own command-line client.

    httpx's ``__init__`` imports ``httpx._main`` for ``httpx.main``, and with it click,
    pygments and rich's progress and syntax modules: about half of ``import httpx``, paid
    by every remote run (encode/httpx#3547). Until httpx is imported, a stand-in module
    takes its place; the real one loads the first time anything of it is used.
    """
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    stand_in = types.ModuleType("httpx._main", "httpx's command-line client, loaded on first use")

    def real():
        if sys.modules.get("httpx._main") is stand_in:
            del sys.modules["httpx._main"]
        return importlib.import_module("httpx._main")

    def main(*args, **kwargs):
        return real().main(*args, **kwargs)

    def attribute(name: str):  # PEP 562: any other name loads the real module (the import system's probes do not)
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(real(), name)

    stand_in.main = main
    stand_in.__getattr__ = attribute
    sys.modules["httpx._main"] = stand_in


_httpx_without_its_cli()


def load(reference: str | None, settings: dict) -> Backend:
    """Build the backend for what the user typed after ``-m``."""
    from thinkcli.backends.models import resolve

    ref = resolve(reference, settings.get("aliases") or {}, settings=settings)
    if ref.scheme not in BACKENDS and ref.scheme in BUILTIN:
        importlib.import_module(BUILTIN[ref.scheme])
    spec = BACKENDS.get(ref.scheme) or _from_entry_point(ref.scheme)
    if spec is None:
        # A provider from the config file speaks the OpenAI protocol.
        if ref.options.get("base_url"):
            importlib.import_module(BUILTIN["openai"])
            spec = BACKENDS["openai"]
        else:
            known = ", ".join(sorted(set(BUILTIN) | set(BACKENDS)))
            raise ModelUnavailable(
                f"no backend for model {ref.display!r} (scheme {ref.scheme!r}); known schemes: {known}; "
                "run `think models` to see what is installed"
            )
    return spec.factory(ref, settings)


def _from_entry_point(scheme: str) -> BackendSpec | None:
    """A third party's backend from the ``thinkcli.backends`` entry-point group: the entry
    point's name is the scheme, its object a BackendSpec or a factory ``(ref, settings)``."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="thinkcli.backends"):
        if ep.name == scheme:
            found = ep.load()
            spec = found if isinstance(found, BackendSpec) else BackendSpec(scheme, found)
            register_backend(spec)
            return spec
    return None
