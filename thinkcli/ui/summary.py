"""The one-line summary of a run: tokens, samples, wall time, cost, and why it stopped."""

from __future__ import annotations

EARLY_STOPPERS = ("vote", "auto", "best-of-n")  # strategies whose `samples` is a ceiling, not a count


def cost_text(spent, so_far: bool = False) -> str:
    """The cost of a Result, or of a Spend event mid-run (``so_far``): anything with
    ``local`` and ``cost_usd``.

    >>> from types import SimpleNamespace as S
    >>> cost_text(S(local=False, cost_usd=0.00123), so_far=True), cost_text(S(local=False, cost_usd=None))
    ('$0.0012 so far', 'cost n/a')
    >>> cost_text(S(local=True, cost_usd=0.0), so_far=True)
    '$0.0000 local'
    """
    if spent.local:
        return "$0.0000 local"
    if spent.cost_usd is None:
        return "cost n/a"
    return f"${spent.cost_usd:.4f}" + (" so far" if so_far else "")


def summary_line(result) -> str:
    """
    >>> from thinkcli.events import Usage
    >>> from types import SimpleNamespace as R
    >>> r = R(usage=Usage(40, 12), samples_drawn=1, wall_s=0.42, local=True, cost_usd=0.0,
    ...       stopped_by=None, interrupted=False, votes=None, confidence=None, strategy="cot")
    >>> summary_line(r)
    'tokens 40 prompt / 12 completion · 1 sample · 0.42 s · $0.0000 local'
    >>> r = R(usage=Usage(400, 48), samples_drawn=4, wall_s=3.0, local=True, cost_usd=0.0, stopped_by="tokens",
    ...       interrupted=False, votes={"42": 3, "7": 1}, confidence=0.8125, strategy="vote", plan={"samples": 8})
    >>> summary_line(r)
    'tokens 400 prompt / 48 completion · 4 of 8 samples · 3.00 s · $0.0000 local · votes 42×3 7×1 (81%) · stopped by tokens budget'
    """
    u = result.usage
    approx = "~" if u.estimated else ""
    tokens = f"tokens {approx}{u.prompt_tokens} prompt / {approx}{u.completion_tokens} completion"
    if u.reasoning_tokens:
        tokens += f" / {approx}{u.reasoning_tokens} reasoning"
    n = result.samples_drawn
    drawn = f"{n} sample{'s' if n != 1 else ''}"
    most = (getattr(result, "plan", None) or {}).get("samples")
    if result.strategy in EARLY_STOPPERS and isinstance(most, int) and most > n:
        drawn = f"{n} of {most} samples"  # an adaptive strategy stopped early: say what it saved
    parts = [tokens, drawn, f"{result.wall_s:.2f} s", cost_text(result)]
    if result.votes and len(result.votes) > 0 and n > 1:
        top = sorted(result.votes.items(), key=lambda kv: -kv[1])[:3]
        tally = " ".join(f"{k[:20]}×{v}" for k, v in top)
        conf = f" ({result.confidence:.0%})" if result.confidence is not None else ""
        parts.append(f"votes {tally}{conf}")
    if result.stopped_by:
        parts.append(f"stopped by {result.stopped_by} budget")
    if result.interrupted:
        parts.append("interrupted")
    return " · ".join(parts)
