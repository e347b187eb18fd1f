"""`think serve`: every strategy behind an OpenAI-compatible HTTP endpoint.

A thin client of the library face (``thinkcli.run``/``thinkcli.stream``):
``mapping`` reads a chat-completions body, ``respond`` answers it as JSON or
SSE, ``admission`` queues runs, ``auth`` checks keys, ``app`` holds the routes
and models, ``server`` runs uvicorn. Importing this package imports no web
framework; ``server.serve`` does.
"""

from __future__ import annotations

EXTRA_HINT = "pip install 'thinkcli[serve]'"


def missing_dependency() -> str | None:
    """The first web dependency that cannot be imported, or None."""
    import importlib

    for name in ("starlette", "uvicorn"):
        try:
            importlib.import_module(name)
        except ImportError:
            return name
    return None
