"""The OpenAI response shapes: completions, stream chunks, usage, and the ``think`` field.

Pure functions over the library's ``Result`` and events; no I/O. The compact
progress lines streamed as ``reasoning_content`` at scaled efforts are made here.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from thinkcli import events

FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls"}


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def usage_dict(usage: Any) -> dict[str, Any]:
    """OpenAI's usage block; completion tokens include reasoning tokens, as OpenAI counts them."""
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def add_usage(total: dict[str, Any] | None, usage: Any) -> dict[str, Any]:
    part = usage_dict(usage)
    if total is None:
        return part
    for key, value in part.items():
        if isinstance(value, dict):
            for k, v in value.items():
                total[key][k] += v
        else:
            total[key] += value
    return total


def chosen_text(result: Any) -> str:
    """What the client reads as the reply: the selected sample's whole text (its reasoning and its
    answer line), or the extracted answer when no sample is selected."""
    for cand in result.candidates:
        if cand.sample == result.chosen and cand.text.strip():
            return cand.text
    return result.answer or ""


def finish_reason(result: Any) -> str:
    for cand in result.candidates:
        if cand.sample == result.chosen:
            return FINISH.get(cand.finish_reason, "stop")
    return "stop"


def run_info(result: Any) -> dict[str, Any]:
    """One run as the ``think`` field reports it."""
    return {
        "strategy": result.strategy,
        "answer": result.answer,
        "votes": result.votes,
        "select": getattr(result, "selection", None),  # the selection rule and each answer's weight
        "confidence": result.confidence,
        "stopped_by": result.stopped_by,
        "samples": result.samples_drawn,
        "cost_usd": result.cost_usd,
        "wall_s": round(result.wall_s, 3),
        "notes": list(result.notes),
        "candidates": [{"index": c.sample, "answer": c.answer, "completion_tokens": c.completion_tokens,
                        "finish_reason": c.finish_reason} for c in result.candidates],
    }


def think_field(effort: str, model: str, results: list[Any], notes: list[str]) -> dict[str, Any]:
    """The ``think`` field: the effort and model that ran, the cost of every run together, and each
    run's votes, confidence and stop; with one run (n=1) its fields also sit at the top."""
    costs = [r.cost_usd for r in results]
    info: dict[str, Any] = {
        "effort": effort,
        "model": model,
        "cost_usd": None if any(c is None for c in costs) else round(sum(costs), 8),
        "notes": list(notes),
        "runs": [run_info(r) for r in results],
    }
    if len(results) == 1:
        one = info["runs"][0]
        info.update({k: v for k, v in one.items() if k not in ("cost_usd", "notes")})
        info["notes"] += one["notes"]
    return info


def completion(cid: str, model: str, messages: list[dict[str, Any]], finishes: list[str],
               usage: dict[str, Any], think: dict[str, Any], tool_calls: list[list[dict]] | None = None) -> dict:
    choices = []
    for i, (text, finish) in enumerate(zip(messages, finishes, strict=True)):
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if tool_calls and tool_calls[i]:
            message["tool_calls"] = tool_calls[i]
            message["content"] = text or None
        choices.append({"index": i, "message": message, "finish_reason": finish, "logprobs": None})
    return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": choices, "usage": usage, "think": think}


def chunk(cid: str, created: int, model: str, index: int, delta: dict[str, Any] | None = None,
          finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": index, "delta": delta or {}, "finish_reason": finish, "logprobs": None}
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [choice], **extra}


def usage_chunk(cid: str, created: int, model: str, usage: dict[str, Any], think: dict[str, Any]) -> dict:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [], "usage": usage, "think": think}


def progress_line(event: events.Event) -> str | None:
    """A scaled run's step as one short line of reasoning, or None for steps not shown.

    >>> progress_line(events.SampleDone(1, "42", events.Usage(10, 7)))
    'sample 2: 42 (7 tokens)\\n'
    >>> progress_line(events.Vote({"42": 2, "41": 1}, "42", 0.875))
    'votes: 42×2, 41×1 (88%)\\n'
    """
    if isinstance(event, events.SampleStarted):
        label = f" ({event.label})" if event.label else ""
        return f"sample {event.sample + 1} started{label}\n"
    if isinstance(event, events.SampleDone):
        answer = " ".join((event.answer or "no answer").split())
        answer = answer if len(answer) <= 60 else answer[:57] + "..."
        return f"sample {event.sample + 1}: {answer} ({event.usage.completion_tokens} tokens)\n"
    if isinstance(event, events.Vote):
        tally = ", ".join(f"{k}×{v}" for k, v in sorted(event.tally.items(), key=lambda kv: -kv[1]))
        conf = f" ({event.confidence:.0%})" if event.confidence is not None else ""
        return f"votes: {tally}{conf}\n"
    if isinstance(event, events.VerifyDone):
        verdict = getattr(event.verdict, "passed", None)
        word = "passed" if verdict else "failed" if verdict is False else f"scored {getattr(event.verdict, 'score', '?')}"
        return f"sample {event.sample + 1} {word}\n"
    if isinstance(event, events.RoundStarted):
        return f"{event.name}\n"
    if isinstance(event, events.BudgetStop):
        return f"stopped by the {event.budget} budget ({event.detail})\n"
    if isinstance(event, (events.Notice,)):
        return f"{event.text}\n"
    if isinstance(event, events.Retry):
        return f"retrying in {event.after_s:g} s ({event.reason})\n"
    return None
