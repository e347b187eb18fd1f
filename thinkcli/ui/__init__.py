"""Renderers over the event stream: the live view, plain stderr, and the JSON document."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping


def live_allowed(stream=None, environ: Mapping[str, str] | None = None) -> bool:
    """The live view and colour need a terminal and no opt-out (NO_COLOR, TERM=dumb, PRE_COMMIT=1)."""
    stream = stream if stream is not None else sys.stderr
    environ = os.environ if environ is None else environ
    if "NO_COLOR" in environ or environ.get("TERM") == "dumb" or environ.get("PRE_COMMIT") == "1":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def make_renderer(*, json_mode: bool, quiet: bool, environ: Mapping[str, str] | None = None):
    """The sink for a CLI run; call its ``close(result)`` after the answer is printed."""
    from thinkcli.ui.plain import PlainRenderer

    if live_allowed(environ=environ) and not quiet:
        from thinkcli.ui.live import LiveRenderer

        renderer = LiveRenderer()
    else:
        renderer = PlainRenderer(quiet=quiet)
    if json_mode:
        from thinkcli.ui.jsonout import JsonRenderer

        return JsonRenderer(renderer)
    return renderer
