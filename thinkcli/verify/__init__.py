"""Verifiers: score a candidate answer. Command (sandboxed), judge model, inverse perplexity.

All sit behind ``verify.base.Verifier``; ``make_verifier`` picks one from plain
options (the engine unpacks its Request; nothing here knows the engine's types).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def make_verifier(meter, *, command: str | None = None, timeout: float = 60.0, keep_env: tuple[str, ...] = (),
                  judge: bool = False, judge_model: str | None = None, named: str | None = None,
                  settings: Mapping[str, Any] | None = None):
    """The verifier a run asked for: a command (--verify CMD), else a judge (--judge,
    --judge-model REF), else a named one ('inverse-perplexity'); None when nothing asked."""
    settings = settings or {}
    if command:
        from thinkcli.verify.command import CommandVerifier

        return CommandVerifier.for_command(command, timeout, settings, keep_env)
    if judge or judge_model:
        from thinkcli.verify.judge import JudgeVerifier

        return JudgeVerifier.for_model(judge_model, settings, meter)
    if named in ("inverse-perplexity", "self-certainty"):  # the second: its old name
        from thinkcli.verify.certainty import InversePerplexity

        return InversePerplexity()
    return None
