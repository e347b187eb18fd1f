"""The strategy table and the effort presets.

A strategy is a function ``(problem, plan, backend, verifier, sink) -> Outcome``
in its own module; the table names it by the word users type after
``--strategy``. Modules load on first use so start-up stays fast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from thinkcli.profiles import KNOBS

if TYPE_CHECKING:
    from thinkcli.strategies.base import Outcome, Plan, Problem

__all__ = ["STRATEGIES", "EFFORTS", "StrategySpec", "Plan", "Problem", "Outcome", "get", "spec", "plan_for",
           "register_strategy"]


@dataclass(frozen=True)
class StrategySpec:
    """One strategy: where its function is (loaded on first use) and what the engine must know of it."""

    target: str | Callable[..., Outcome]  # "module:function", or the function itself
    uses_samples: bool = True  # False: --samples changes nothing (one draft, or its own knobs)
    min_samples: int = 1  # the least --strategy NAME draws when the preset's count is lower
    raw_continuation: bool = False  # needs a backend that continues raw text (budget forcing)
    samples_mean: str = "samples drawn"  # what --samples counts for it, in words
    whole_answers: bool = False  # samples whole answers in plan.prompt_style (a profile's measured style carries to it)

    def load(self) -> Callable[..., Outcome]:
        if callable(self.target):
            return self.target
        module, _, func = self.target.partition(":")
        return getattr(importlib.import_module(module), func)


# name -> spec; a third party adds to this same table (register_strategy, entry points).
STRATEGIES: dict[str, StrategySpec] = {
    "cot": StrategySpec("thinkcli.strategies.cot:cot", uses_samples=False, samples_mean="ignored: one sample",
                        whole_answers=True),
    "vote": StrategySpec("thinkcli.strategies.vote:vote", min_samples=5, whole_answers=True,
                         samples_mean="the most samples voted on (fewer once the vote is settled)"),
    "auto": StrategySpec("thinkcli.strategies.auto:auto", min_samples=8, whole_answers=True,
                         samples_mean="the most samples before verification escalates"),
    "best-of-n": StrategySpec("thinkcli.strategies.best_of_n:best_of_n", min_samples=4, whole_answers=True,
                              samples_mean="candidates drawn and scored (fewer once one passes)"),
    "refine": StrategySpec("thinkcli.strategies.refine:refine", uses_samples=False,
                           samples_mean="ignored: --rounds sets the revisions"),
    "beam": StrategySpec("thinkcli.strategies.beam:beam", uses_samples=False,
                         samples_mean="ignored: --beam-width sets the search"),
    "mcts": StrategySpec("thinkcli.strategies.mcts:mcts", min_samples=8, samples_mean="search iterations (rollouts)"),
    "budget": StrategySpec("thinkcli.strategies.budget:budget", uses_samples=False, raw_continuation=True,
                           samples_mean="ignored: --think-min/--think-max set the budget"),
}


def register_strategy(name: str, spec: StrategySpec | Callable[..., Outcome] | str) -> StrategySpec:
    """Add (or replace) a strategy in the table the built-ins use; a bare function or
    "module:function" gets the default metadata."""
    if not isinstance(spec, StrategySpec):
        spec = StrategySpec(spec)
    STRATEGIES[name] = spec
    return spec


# --effort presets. One table here and one in the README ("Effort presets").
# `samples` is the most a preset may draw; vote and auto stop earlier when the
# answer is settled. `then` runs only when a verifier is given (--verify, --judge).
EFFORTS: dict[str, dict] = {
    "low": {"strategy": "cot", "samples": 1},
    "medium": {"strategy": "vote", "samples": 5, "round_size": 2},
    "high": {"strategy": "vote", "samples": 16, "round_size": 2, "then": "best-of-n"},
    "auto": {"strategy": "auto", "samples": 8, "round_size": 2},
}

# What a calibration profile may set per effort level: profiles.KNOBS names and types them.
PROFILE_KNOBS = tuple(KNOBS)

# Small models reason worse when asked to think step by step (measured on the
# embedded SmolLM2-135M: 11% vs 15% per sample); they get direct prompts.
DIRECT_MODELS = ("smollm2", "smollm-", "135m", "360m")
# Their answers also scatter at 0.7: on the shipped arithmetic set a lower temperature
# made every sampling strategy at least as accurate (vote of 8: 22% at 0.4 vs 14% at 0.7).
SMALL_MODEL_TEMPERATURE = 0.4
# And they rarely agree, so the Beta posterior seldom reaches 0.95 within a few samples:
# on 100 fresh dev problems (make_arith.py --seed 7) an adaptive vote of up to 8 at 0.95
# drew 7.3 samples a question. At 0.8 (which stops on 2 agreeing samples, or 3 of 4)
# it spent 0.74 of fixed-8's tokens at the same accuracy (0.54 with the futility stop).
SMALL_MODEL_CONFIDENCE = 0.8


def default_prompt_style(model_name: str) -> str:
    """
    >>> default_prompt_style("smollm2-135m")
    'direct'
    >>> default_prompt_style("gpt-4o-mini")
    'steps'
    """
    name = model_name.lower()
    return "direct" if any(tag in name for tag in DIRECT_MODELS) else "steps"


def model_defaults(model_name: str) -> dict:
    """The knobs a preset sets per model: prompt style, sampling temperature, vote confidence.

    >>> model_defaults("smollm2-135m")
    {'prompt_style': 'direct', 'temperature': 0.4, 'confidence': 0.8}
    >>> model_defaults("gpt-4o-mini")
    {'prompt_style': 'steps', 'temperature': 0.7, 'confidence': 0.95}
    """
    if default_prompt_style(model_name) == "direct":
        return {"prompt_style": "direct", "temperature": SMALL_MODEL_TEMPERATURE, "confidence": SMALL_MODEL_CONFIDENCE}
    return {"prompt_style": "steps", "temperature": 0.7, "confidence": 0.95}


def spec(name: str) -> StrategySpec:
    """The table's entry for ``name`` (a plugin's entry point is looked up on a miss)."""
    found = STRATEGIES.get(name) or _from_entry_point(name)
    if found is None:
        from thinkcli.errors import UsageError

        raise UsageError(f"unknown strategy {name!r}; choose from {', '.join(sorted(STRATEGIES))}")
    return found


def _from_entry_point(name: str) -> StrategySpec | None:
    """A third party's strategy from the ``thinkcli.strategies`` entry-point group."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="thinkcli.strategies"):
        if ep.name == name:
            return register_strategy(name, ep.load())
    return None


def get(name: str) -> Callable[..., Outcome]:
    return spec(name).load()


def plan_for(effort: str, model_name: str, profile: dict | None = None, **overrides) -> Plan:
    """The plan for an effort level on a model, with the user's overrides (None = keep).

    Knobs come from, lowest first: the shipped defaults (``model_defaults`` and ``EFFORTS``),
    the model's calibration ``profile`` for this effort level (``think calibrate``), the
    user's overrides. ``plan.sources`` says which one set each knob: default, profile, flag.
    A profile knob that is not a Plan field (an auto probe's easy threshold) goes into ``extra``.
    """
    from thinkcli.strategies.base import (
        Plan,  # here, not at import: `think --help` reads only the table
    )

    fields = Plan.__dataclass_fields__
    preset = dict(EFFORTS.get(effort) or EFFORTS["low"])
    defaults = {**model_defaults(model_name), **{k: v for k, v in preset.items() if k in fields}}
    plan = replace(Plan(), **defaults)
    sources = dict.fromkeys(defaults, "default")
    tuned = {k: v for k, v in (((profile or {}).get("effort") or {}).get(effort) or {}).items() if k in PROFILE_KNOBS}
    if overrides.get("strategy") not in (None, tuned.get("strategy")):
        # The knobs were measured for the profile's strategy (a greedy cot is no vote's temperature). Its
        # prompt style was measured for the model, so it carries to another strategy that samples whole
        # answers in that style (refine, beam and MCTS prompt for drafts and steps of their own).
        carries = "prompt_style" in tuned and spec(overrides["strategy"]).whole_answers
        tuned = {"prompt_style": tuned["prompt_style"]} if carries else {}
    if tuned:
        extra = {**plan.extra, **{k: v for k, v in tuned.items() if k not in fields}}
        plan = replace(plan, **{k: v for k, v in tuned.items() if k in fields}, extra=extra)
        sources.update(dict.fromkeys(tuned, "profile"))
    changes = {k: v for k, v in overrides.items() if v is not None}
    if "strategy" in changes and "samples" not in changes and changes["strategy"] != plan.strategy:
        changes.setdefault("samples", max(plan.samples, spec(changes["strategy"]).min_samples))
    if "extra" in changes:  # overrides add to the extra knobs a profile set rather than dropping them
        sources.update(dict.fromkeys(changes["extra"], "flag"))
        changes["extra"] = {**plan.extra, **changes["extra"]}
    sources.update({k: "flag" for k in changes if k != "extra"})
    plan = replace(plan, **changes)
    plan.sources = sources
    return plan


def __getattr__(name: str):
    if name in ("Outcome", "Plan", "Problem"):
        from thinkcli.strategies import base

        return getattr(base, name)
    raise AttributeError(name)
