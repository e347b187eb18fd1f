"""Verifiers: score a candidate answer. Command (sandboxed), judge model, inverse perplexity.

All sit behind ``verify.base.Verifier``; ``make_verifier`` picks one for a request.
"""

from __future__ import annotations


def make_verifier(request, plan, meter):
    """The verifier a run asked for: --verify CMD, else --judge/--judge-model, else the
    plan's named one ('inverse-perplexity'); None when nothing asked for one."""
    if request.verify:
        from thinkcli.verify.command import CommandVerifier

        return CommandVerifier.for_request(request)
    if request.judge or request.judge_model:
        from thinkcli.verify.judge import JudgeVerifier

        return JudgeVerifier.for_request(request, meter)
    if plan.extra.get("verifier") in ("inverse-perplexity", "self-certainty"):  # the second: its old name
        from thinkcli.verify.certainty import InversePerplexity

        return InversePerplexity()
    return None
