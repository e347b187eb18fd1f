"""``python -m tests.fakecli ARGS``: the real `think` program with the scripted FakeBackend
registered as the ``fake:`` scheme, the way a third-party backend plugs in.

Every sample answers ``THINK_FAKE_REPLY`` (default ``Final answer: 4``), so runs through the
whole CLI (flags, config, THINK_* settings, strategies, renderers, history) are fast and exact.
"""

from __future__ import annotations

import os

from tests.conftest import FAKE_MODELS, FakeBackend


def _factory(ref, settings) -> FakeBackend:
    reply = os.environ.get("THINK_FAKE_REPLY", "Final answer: 4")
    backend = FakeBackend(model=f"fake:{ref.name}")
    backend.responder = lambda call, i: reply
    return backend


if __name__ == "__main__":  # only as the program: importing this module (doctest collection) changes nothing
    FAKE_MODELS.fallback = _factory  # the conftest's fake: scheme; every NAME answers THINK_FAKE_REPLY
    from thinkcli.cli import main

    main()
