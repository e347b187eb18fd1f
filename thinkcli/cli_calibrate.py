"""`think calibrate`: the command line over thinkcli.draws (drawing, saving, resuming) and
thinkcli.calibrate (the replay, the choice, the report)."""

from __future__ import annotations

import os
import sys
import time
from typing import Annotated

import typer

from thinkcli.cli_app import app, csv_list, handles_errors
from thinkcli.cli_options import BatchMaxCost, BatchMaxTokens, Concurrency
from thinkcli.errors import ExitStatus, ThinkError, UsageError

DEFAULTS = {"data": "dev", "samples": 16, "styles": ["direct", "steps", "program"], "max_tokens": 64, "seed": 0}
CHECKPOINT_S = 30.0  # an unfinished draw is written to --draw FILE at most this often (and when it stops)


@app.command("calibrate", help="Measure which plan pays off on this model: draw N samples per question once "
             "(seeded, batched, for each prompt style), replay every selection rule x signal x sample count x stop "
             "setting on that one draw, print the accuracy-vs-tokens frontier, choose a plan per --effort level on "
             "the calibration split and report it on the held-out split; the profile it writes is what --effort "
             "uses for this model from then on.\n\n"
             "DATA is a JSONL file of {\"question\", \"answer\"} rows (optionally \"kind\"), or `dev` "
             "(the shipped dev set) or `arith`. With --draw FILE the draw is saved as it goes: the same command "
             "resumes an unfinished one (after Ctrl-C or a failure) and replays a finished one without the model. "
             "Against a remote model --concurrency questions are drawn at once, within --max-cost and "
             "--max-total-tokens.")
@handles_errors
def calibrate_cmd(
    data: Annotated[str | None, typer.Argument(metavar="DATA", help="A .jsonl file, dev, or arith \\[default: dev].", show_default=False)] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model reference (loaded once).", show_default=False)] = None,
    samples: Annotated[int | None, typer.Option("--samples", "-n", min=2, max=64, help="Samples per question and prompt style \\[default: 16].", show_default=False)] = None,
    styles: Annotated[str | None, typer.Option("--styles", help="Comma-separated prompt styles to draw \\[default: direct,steps,program].", show_default=False)] = None,
    holdout: Annotated[float, typer.Option("--holdout", min=0.0, max=0.9, help="Share of each kind of question held out for reporting.")] = 0.3,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first K questions.", show_default=False)] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="Completion tokens per sample \\[default: 64].", show_default=False)] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", "-t", min=0.05, max=5.0, help="Sampling temperature \\[default: the model's preset temperature].", show_default=False)] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Base seed (question q, sample i: SEED+1000q+i) and the split's seed \\[default: 0, or the saved draw's].", show_default=False)] = None,
    draw_file: Annotated[str | None, typer.Option("--draw", metavar="FILE", help="Save the draw in FILE as it goes; if FILE holds one, resume it (unfinished) or replay it (finished).", show_default=False)] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="llama.cpp threads (default: physical cores).", show_default=False)] = None,
    concurrency: Concurrency = None,
    max_cost: BatchMaxCost = None,
    max_total_tokens: BatchMaxTokens = None,
    no_save: Annotated[bool, typer.Option("--no-save", help="Report only; do not write the model's profile.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON document: every setting, the chosen plans, the profile.")] = False,
    plot: Annotated[str | None, typer.Option("--plot", metavar="FILE", help="Draw accuracy vs tokens with the frontier to FILE.png|svg.", show_default=False)] = None,
) -> None:
    from thinkcli import bench, calibrate, config, draws, profiles

    style_list = csv_list(styles, "--styles", choices=config.PROMPT_STYLES) if styles is not None else None
    if plot:
        bench.plot_check(plot)
    settings = config.load()
    if threads is not None:
        settings["threads"] = threads
    if draw_file is not None and not draw_file.strip():
        raise UsageError("--draw: give a file name")
    drawn = draws.load(draw_file) if draw_file and os.path.exists(draw_file) else None
    if drawn is not None:
        # a finished draw is replayed as it is: --seed then only splits it; an unfinished one must go on as it began
        draws.check(drawn, draw_file, samples=samples, styles=style_list, max_tokens=max_tokens,
                    temperature=temperature, seed=None if drawn.complete else seed)
        if drawn.complete and model is not None:
            raise UsageError(f"{draw_file} holds a finished draw of {drawn.model}; --model only chooses the model "
                             "to draw with: drop it, or give another --draw FILE")
    items = None
    if drawn is None or not drawn.complete or data is not None or limit is not None:
        source = data or (drawn.data if drawn is not None else DEFAULTS["data"])
        items = bench.load_items(source, limit)
        if drawn is not None and drawn.fingerprint and draws.fingerprint(items) != drawn.fingerprint:
            which = f"the first {limit} of {source}" if limit else source
            raise UsageError(f"{draw_file} holds a draw of other questions than {which}: "
                             "give another --draw FILE to draw anew")
    if drawn is None or not drawn.complete:
        asked = {"data": data, "samples": samples, "styles": style_list, "max_tokens": max_tokens, "seed": seed}
        drawn = _draw(drawn, items, model, settings, draw_file, temperature, concurrency, (max_cost, max_total_tokens),
                      **{k: DEFAULTS[k] if v is None else v for k, v in asked.items()})
    result = calibrate.calibrate(drawn, holdout, drawn.seed if seed is None else seed)
    where = None if no_save else str(profiles.save(result.profile()))
    if plot:
        calibrate.plot(result, plot)
    if json_out:
        import json

        print(json.dumps(calibrate.as_json(result, where), indent=2))
        return
    print(calibrate.report(result))
    if where:
        print(f"\nprofile written to {where}; --effort low|medium|high|auto now use it for {drawn.model}")


def _draw(drawn, items, model: str | None, settings: dict, draw_file: str | None, temperature: float | None,
          concurrency: int | None, caps: tuple[float | None, int | None], *,
          data: str, samples: int, styles: list[str], max_tokens: int, seed: int):
    """Start a draw (or go on with an unfinished one) on the model, saving it to ``draw_file``
    as it goes; when it stops early, say what was kept and how to resume."""
    from thinkcli import draws, profiles
    from thinkcli.engine import Request, load_backend
    from thinkcli.strategies import model_defaults

    backend = load_backend(Request("", model=model or settings["model"], settings=settings))
    try:
        key = profiles.model_key(backend)
        if drawn is None:
            temp = temperature if temperature is not None else model_defaults(backend.model)["temperature"]
            drawn = draws.start(items, model=backend.model, data=data, model_key=key, samples=samples, styles=styles,
                                temperature=temp, max_tokens=max_tokens, seed=seed)
        elif key != drawn.model_key:
            raise UsageError(f"{draw_file} is an unfinished draw of {drawn.model}, not of {backend.model}: "
                             "resume it with that model (-m), or give another --draw FILE")
        budget = _budget(backend, drawn, settings, *caps) if caps != (None, None) else None
        if draw_file:
            draws.save(drawn, draw_file)  # a path that cannot be written fails now, not after the draw
        checkpoint = _Checkpoint(draw_file) if draw_file else None
        if backend.capabilities.local:
            concurrency = 1  # one llama.cpp context: questions take turns, each one's samples batched
        else:
            concurrency = concurrency or settings.get("concurrency") or 16
        try:
            where = f" into {os.path.basename(draw_file)}" if draw_file else ""
            with _progress(f"calibrate: {os.path.basename(drawn.data)} on {drawn.model}{where}") as progress:
                draws.fill(drawn, items, backend, progress, checkpoint, concurrency, budget)
        except KeyboardInterrupt:
            print(f"think: calibrate: interrupted; {_kept(drawn, draw_file)}", file=sys.stderr)
            raise typer.Exit(int(ExitStatus.INTERRUPTED)) from None
        except ThinkError as exc:
            raise ThinkError(f"{exc.message}; {_kept(drawn, draw_file)}", exc.status) from None
        if draw_file:
            draws.save(drawn, draw_file)
    finally:
        backend.close()
    return drawn


def _budget(backend, drawn, settings: dict, max_cost: float | None, max_tokens: int | None):
    """--max-cost / --max-total-tokens over this draw. A question's worst case is its N + 1
    calls at their full --max-tokens over the whole prompt, as a batch reserves
    (``engine.prompt_worst_case``); on an unpriced remote model --max-cost cannot be kept,
    so it is refused (``engine.price_for``)."""
    from thinkcli import draws, engine
    from thinkcli.events import Usage
    from thinkcli.jobs.budget import Ledger, Need

    price = engine.price_for(backend, settings, max_cost)
    calls = drawn.samples + 1

    def need(item) -> Need:
        usage = Usage(engine.prompt_worst_case(backend, item.question) * calls, drawn.max_tokens * calls, estimated=True)
        return Need(usage.total_tokens, price(usage) if price is not None else None)

    return draws.Budget(Ledger(max_cost=max_cost, max_tokens=max_tokens), need, price)


def _kept(drawn, draw_file: str | None) -> str:
    """Save an unfinished draw, and say where it is and how to go on."""
    from thinkcli import draws

    total = len(drawn.questions) * len(drawn.styles)
    done = f"{total - drawn.pending} of {total} question and style pairs drawn"
    if not draw_file:
        return f"{done}, and nothing kept (--draw FILE saves a draw as it goes and resumes it)"
    draws.save(drawn, draw_file)
    return f"{done} are saved in {draw_file}: run the same command to resume"


class _Checkpoint:
    """Save the draw to its file at most every CHECKPOINT_S seconds."""

    def __init__(self, path: str) -> None:
        self.path, self.last = path, time.monotonic()

    def __call__(self, drawn) -> None:
        from thinkcli import draws

        if time.monotonic() - self.last >= CHECKPOINT_S:
            draws.save(drawn, self.path)
            self.last = time.monotonic()


class _progress:
    """A Rich progress bar on stderr while a long job runs; silent when stderr is not a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar = None

    def __enter__(self):
        from thinkcli.ui import live_allowed

        if live_allowed():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=None)
        return self.update

    def update(self, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, total=total)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
