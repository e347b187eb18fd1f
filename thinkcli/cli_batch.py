"""`think batch`: the command line over thinkcli.batch (flags, signals, exit status).

Reads the questions, loads the model once, prints the progress bar and the
summary line on stderr and maps how the batch ended to an exit status. The
work is in ``thinkcli.batch``; nothing heavy is imported until the command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from thinkcli.cli_app import app, handles_errors
from thinkcli.cli_options import (
    BaseUrl,
    BatchMaxCost,
    BatchMaxTokens,
    BeamWidth,
    Concurrency,
    Confidence,
    EffortOpt,
    Judge,
    JudgeModel,
    MaxRetries,
    MaxTokens,
    ModelOpt,
    Parallel,
    PromptStyleOpt,
    Resume,
    Rounds,
    Samples,
    Seed,
    StrategyOpt,
    System,
    Temperature,
    ThinkMax,
    ThinkMin,
    Threads,
    Verify,
    VerifyTimeout,
)
from thinkcli.errors import ExitStatus, UsageError

HELP = (
    "Answer every question in QUESTIONS and write one JSON row per question: the document "
    "`think --json` prints, plus its id.\n\n"
    "QUESTIONS is a JSONL file (- reads stdin) of {\"question\", \"id\"?, \"system\"?, ...} rows; a row may "
    "override effort, samples, strategy, verify and the other ask options for itself. With --lines every "
    "line is a question and its line number its id. A bad row stops everything before it runs.\n\n"
    "Remote models answer --concurrency questions at once, each question's samples still sent together "
    "(see --parallel); the local model answers one question at a time, its samples batched in one decode. "
    "Rerunning the same command resumes: ids already in the output are skipped, failed rows asked again. "
    "Ctrl-C finishes the rows being written and exits 130; rerun to go on.\n\n"
    "Exit status: 0 all answered, 1 a row failed or a budget left questions unasked, 2 bad input, "
    "3 backend unavailable, 130 interrupted."
)


@app.command("batch", help=HELP)
@handles_errors
def batch_cmd(
    questions: Annotated[str, typer.Argument(metavar="QUESTIONS", help="JSONL file of questions, or - for stdin.")],
    output: Annotated[str | None, typer.Option("--output", "-o", metavar="FILE", help="Append answers here (default: stdout, which cannot resume).", show_default=False)] = None,
    lines: Annotated[bool, typer.Option("--lines", help="QUESTIONS is plain text: one question per line.")] = False,
    concurrency: Concurrency = None,
    ordered: Annotated[bool, typer.Option("--ordered/--unordered", help="Write rows in input order (a finished row waits for earlier ones), or as they finish.")] = False,
    resume: Resume = True,
    max_cost: BatchMaxCost = None,
    max_total_tokens: BatchMaxTokens = None,
    time_limit: Annotated[float | None, typer.Option("--time-limit", min=0.0, help="Wall-time budget per question, seconds.", show_default=False)] = None,
    system: System = None,
    model: ModelOpt = None,
    effort: EffortOpt = None,
    samples: Samples = None,
    max_tokens: MaxTokens = None,
    temperature: Temperature = None,
    seed: Seed = None,
    prompt_style: PromptStyleOpt = None,
    strategy: StrategyOpt = None,
    confidence: Confidence = None,
    judge: Judge = False,
    judge_model: JudgeModel = None,
    rounds: Rounds = None,
    beam_width: BeamWidth = None,
    think_min: ThinkMin = None,
    think_max: ThinkMax = None,
    verify: Verify = None,
    verify_timeout: VerifyTimeout = None,
    threads: Threads = None,
    base_url: BaseUrl = None,
    parallel: Parallel = None,
    max_retries: MaxRetries = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar and no summary line.")] = False,
) -> None:
    asked = {
        "system": system, "effort": effort, "samples": samples, "max_tokens": max_tokens,
        "temperature": temperature, "seed": seed, "prompt_style": prompt_style, "strategy": strategy,
        "confidence": confidence, "judge": judge or None, "judge_model": judge_model, "rounds": rounds,
        "beam_width": beam_width, "think_min": think_min, "think_max": think_max, "time_limit": time_limit,
        "verify": verify, "verify_timeout": verify_timeout,
    }
    options = {k: getattr(v, "value", v) for k, v in asked.items() if v is not None}
    backend_flags = {"threads": threads, "base_url": base_url, "parallel": parallel, "max_retries": max_retries}
    raise typer.Exit(int(_batch(questions, output, lines, options, backend_flags, model=model,
                                concurrency=concurrency, ordered=ordered, overwrite=not resume,
                                max_cost=max_cost, max_total_tokens=max_total_tokens, quiet=quiet)))


def _batch(questions: str, output: str | None, lines: bool, options: dict, backend_flags: dict, *, model,
           concurrency, ordered, overwrite, max_cost, max_total_tokens, quiet) -> ExitStatus:
    import threading

    import thinkcli
    from thinkcli import batch, config
    from thinkcli.ui import live_allowed
    from thinkcli.ui.progress import BatchProgress

    name = "stdin" if questions == "-" else questions
    rows = batch.parse(_read(questions), name, lines=lines)
    if output and output != "-" and questions != "-" and Path(output).resolve() == Path(questions).resolve():
        raise UsageError(f"-o {output} is the questions file; write the answers elsewhere")
    settings = config.load()
    settings.update({k: v for k, v in backend_flags.items() if v is not None})
    out = batch.Output(output, overwrite=overwrite)
    done = out.scan()
    backend = thinkcli.load_model(model, **{k: v for k, v in backend_flags.items() if v is not None})
    progress = BatchProgress(live=live_allowed(), quiet=quiet)
    cancel = threading.Event()
    try:
        plan = batch.prepare(rows, name, options, backend, settings, done,
                             budgets=max_cost is not None or max_total_tokens is not None)
        out.open()  # every row checked: only now is the output created or trimmed
        with interrupts(cancel):
            summary = batch.run_batch(plan, backend, out, concurrency=concurrency or settings.get("concurrency") or 16,
                                      ordered=ordered, max_cost=max_cost, max_total_tokens=max_total_tokens,
                                      sink=progress, cancel=cancel)
    finally:
        progress.stop()
        out.close()
        backend.close()
    progress.close()
    return status_of(summary)


def status_of(summary) -> ExitStatus:
    """How a batch ended, as an exit status.

    >>> from thinkcli.jobs.runner import Summary
    >>> [status_of(Summary(3, 3)), status_of(Summary(3, 2, 1)), status_of(Summary(3, 1, stopped_by="cost"))]
    [<ExitStatus.SUCCESS: 0>, <ExitStatus.ERROR: 1>, <ExitStatus.ERROR: 1>]
    >>> status_of(Summary(3, 1, stopped_by="interrupted")), status_of(Summary(3, stopped_by="unavailable"))
    (<ExitStatus.INTERRUPTED: 130>, <ExitStatus.UNAVAILABLE: 3>)
    """
    if summary.stopped_by == "interrupted":
        return ExitStatus.INTERRUPTED
    if summary.stopped_by == "unavailable":
        return summary.fatal.status if summary.fatal is not None else ExitStatus.UNAVAILABLE
    if summary.stopped_by == "failures":
        return ExitStatus.ERROR
    if summary.failed or summary.not_started:
        return ExitStatus.ERROR
    return ExitStatus.SUCCESS


def _read(questions: str) -> bytes:
    """The questions' bytes: a file of any size (a pipe such as <(make_questions) too), or stdin."""
    from thinkcli.inputs import stdin_is_terminal

    if questions == "-":
        if stdin_is_terminal():
            raise UsageError("think batch - reads questions from stdin, but stdin is a terminal; pipe them in")
        return sys.stdin.buffer.read()
    try:
        return Path(questions).read_bytes()
    except FileNotFoundError:
        raise UsageError(f"no such file: {questions}") from None
    except IsADirectoryError:
        raise UsageError(f"{questions} is a directory; give a JSONL file") from None
    except OSError as exc:
        raise UsageError(f"cannot read {questions}: {exc.strerror}") from None


class interrupts:
    """The first Ctrl-C lets the questions in flight finish (their rows written whole); a second stops at once."""

    def __init__(self, cancel) -> None:
        self.cancel = cancel
        self.old = None

    def __enter__(self):
        import signal

        def on_sigint(signum, frame) -> None:
            if self.cancel.is_set():
                raise KeyboardInterrupt
            self.cancel.set()
            print("think: stopping: finishing the questions in flight (Ctrl-C again to quit now)",
                  file=sys.stderr, flush=True)

        self.old = signal.signal(signal.SIGINT, on_sigint)
        return self

    def __exit__(self, *exc) -> None:
        import signal

        signal.signal(signal.SIGINT, self.old)
