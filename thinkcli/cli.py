"""The command line: parse flags, build a Request, map failures to exit statuses.

``think QUESTION`` is the default command (``ask``); ``think models``,
``think config ...`` and the other subcommands sit beside it. Nothing heavy is
imported here at module level: ``think --help`` must stay fast.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from thinkcli.cli_app import (  # noqa: F401 (app and fail are the CLI's public names)
    AskCommand,
    Effort,
    PromptStyle,
    Strategy,
    _version,
    app,
    command_for,
    fail,
    handles_errors,
)
from thinkcli.errors import ExitStatus

SUBCOMMANDS_EPILOG = (
    "Other commands: think serve, think batch, think bench, think models, think logs, think keys set|list|unset, think config get|set|unset|path. "
    "Run think COMMAND --help for each."
)


@app.command(
    "ask",
    cls=AskCommand,
    epilog=SUBCOMMANDS_EPILOG,
    help="Answer PROMPT (the default command: `think QUESTION` is `think ask QUESTION`).\n\n"
    "Piped stdin is put before the prompt; -f adds files as fenced blocks.",
)
@handles_errors
def ask(
    prompt: Annotated[list[str] | None, typer.Argument(metavar="PROMPT", help="The question; words are joined with spaces.", show_default=False)] = None,
    file: Annotated[list[str] | None, typer.Option("--file", "-f", help="Add a file as a fenced block (repeatable; - is stdin).", show_default=False)] = None,
    system: Annotated[str | None, typer.Option("--system", "-s", help="System prompt.", show_default=False)] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model: a .gguf path, an alias, a pulled hf.co/USER/REPO[:QUANT] (asks to pull it if missing), or scheme:name. Default: the embedded SmolLM2-135M.", show_default=False)] = None,
    effort: Annotated[Effort | None, typer.Option("--effort", "-e", help="How much compute to spend: low | medium | high | auto.", show_default=False)] = None,
    samples: Annotated[int | None, typer.Option("--samples", "-n", min=1, max=256, help="Number of samples (overrides the preset).", show_default=False)] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="Completion tokens per sample \\[default: 512].", show_default=False)] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", "-t", min=0.0, max=5.0, help="Sampling temperature.", show_default=False)] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed, for reproducible samples.", show_default=False)] = None,
    prompt_style: Annotated[PromptStyle | None, typer.Option("--prompt-style", help="direct (just answer), steps (reason step by step) or program (write the arithmetic; think computes it). Default: chosen per model.", show_default=False)] = None,
    strategy: Annotated[Strategy | None, typer.Option("--strategy", help="Strategy to run (overrides the effort preset's).", show_default=False)] = None,
    confidence: Annotated[float | None, typer.Option("--confidence", min=0.5, max=1.0, help="vote/auto stop once the leading answer's posterior probability of being the majority reaches this; 1 turns early stops off except the lossless one \\[default: 0.95; 0.8 for small local models].", show_default=False)] = None,
    select: Annotated[str | None, typer.Option("--select", metavar="RULE", help="How vote, best-of-n and auto pick the final answer: majority, weighted:SIGNAL, filtered:SIGNAL[:KEEP], best:SIGNAL or borda:SIGNAL; signals: self-certainty, mean-logprob, inverse-perplexity, deepconf-mean, deepconf-lowest-group, deepconf-bottom-10 (README: Signals and --select).", show_default=False)] = None,
    judge: Annotated[bool, typer.Option("--judge", help="Score candidates with the answering model as judge (best-of-n, refine, beam, mcts).")] = False,
    judge_model: Annotated[str | None, typer.Option("--judge-model", metavar="REF", help="A second model that judges the candidates (implies --judge).", show_default=False)] = None,
    rounds: Annotated[int | None, typer.Option("--rounds", min=0, max=64, help="refine: critique-and-revise rounds \\[default: 2].", show_default=False)] = None,
    beam_width: Annotated[int | None, typer.Option("--beam-width", min=1, max=64, help="beam: partial solutions kept at each step \\[default: 2].", show_default=False)] = None,
    think_min: Annotated[int | None, typer.Option("--think-min", min=0, help="budget: minimum thinking tokens; an earlier stop becomes \"Wait\" \\[default: 0].", show_default=False)] = None,
    think_max: Annotated[int | None, typer.Option("--think-max", min=1, help="budget: maximum thinking tokens, then the answer is forced \\[default: 512].", show_default=False)] = None,
    max_total_tokens: Annotated[int | None, typer.Option("--max-total-tokens", min=1, help="Token budget for the whole run.", show_default=False)] = None,
    time_limit: Annotated[float | None, typer.Option("--time-limit", min=0.0, help="Wall-time budget, seconds.", show_default=False)] = None,
    max_cost: Annotated[float | None, typer.Option("--max-cost", min=0.0, help="Cost budget, USD.", show_default=False)] = None,
    verify: Annotated[str | None, typer.Option("--verify", metavar="CMD", help="Shell command that checks each candidate in a throw-away copy of the project (exit 0 = pass); exit 4 when none passes.", show_default=False)] = None,
    verify_timeout: Annotated[float | None, typer.Option("--verify-timeout", min=0.1, help="Seconds the --verify command may run before its process group is killed \\[default: 60].", show_default=False)] = None,
    verify_env: Annotated[list[str] | None, typer.Option("--verify-env", metavar="NAME", help="Pass this environment variable to the --verify command although it looks like a secret (repeatable; config key verify_env).", show_default=False)] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="llama.cpp threads (default: physical cores).", show_default=False)] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", metavar="URL", help="OpenAI-compatible server for openai: models, e.g. http://localhost:11434/v1 (also THINK_BASE_URL, OPENAI_BASE_URL).", show_default=False)] = None,
    parallel: Annotated[int | None, typer.Option("--parallel", min=1, max=64, metavar="K", help="Requests sent at once for one question's samples when the server ignores n \\[default: all samples at once; fewer once the server is seen to serve fewer at once, remembered per server].", show_default=False)] = None,
    max_retries: Annotated[int | None, typer.Option("--max-retries", min=0, max=20, metavar="N", help="Retries of a remote request on 429/5xx/connection errors \\[default: 4].", show_default=False)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of the answer.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live view and no summary line.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    from thinkcli import config
    from thinkcli.inputs import build_prompt
    from thinkcli.request import build_request

    settings = config.load()
    config.check_flags(locals())
    text = build_prompt(prompt or [], file or [])
    request = build_request(
        text, settings=settings, system=system, model=model, effort=effort, samples=samples, max_tokens=max_tokens,
        temperature=temperature, seed=seed, prompt_style=prompt_style, strategy=strategy, confidence=confidence,
        select=select,
        judge=judge, judge_model=judge_model, rounds=rounds, beam_width=beam_width, think_min=think_min,
        think_max=think_max, max_total_tokens=max_total_tokens, time_limit=time_limit, max_cost=max_cost,
        verify=verify, verify_timeout=verify_timeout, verify_env=verify_env, threads=threads, base_url=base_url,
        parallel=parallel, max_retries=max_retries,
    )
    from thinkcli.models_cli import ensure_pulled

    ensure_pulled(request.model, request.settings)
    raise typer.Exit(int(_run(request, json_out=json_out, quiet=quiet)))


def _run(request, *, json_out: bool, quiet: bool) -> ExitStatus:
    """Run the request with the right renderer; print the answer; return the exit status."""
    from thinkcli import engine
    from thinkcli.ui import make_renderer

    renderer = make_renderer(json_mode=json_out, quiet=quiet)
    result = None
    try:
        result = engine.run(request, renderer)
    finally:
        renderer.stop()
    if not json_out and result.answer:
        from thinkcli.ui.safe import for_terminal

        answer = result.answer.rstrip("\n") + "\n"
        sys.stdout.write(for_terminal(answer) if sys.stdout.isatty() else answer)
        sys.stdout.flush()
    renderer.close(result)
    status = _exit_status(request, result)
    from thinkcli import history

    history.record(request.prompt, result, status, scrub=_redact)
    return status


def _exit_status(request, result) -> ExitStatus:
    """What a finished run exits with; says why on stderr when it is not success."""
    if result.interrupted:
        return ExitStatus.INTERRUPTED
    if not result.answer:
        print("think: error: the model produced no answer", file=sys.stderr)
        return ExitStatus.ERROR
    if request.verify and not any(c.verdict is not None and c.verdict.passed for c in result.candidates):
        judged = [c for c in result.candidates if c.verdict is not None]
        shown = next((c for c in judged if c.sample == result.chosen), judged[0] if judged else None)
        why = f"; the printed one: {shown.verdict.detail}" if shown else ""
        from thinkcli.ui.safe import one_line

        print(f"think: no candidate passed --verify ({len(judged)} checked{one_line(why)})", file=sys.stderr)
        return ExitStatus.NO_PASS
    return ExitStatus.SUCCESS


# The other subcommands register themselves on `app` when imported.
from thinkcli import cli_batch, cli_bench, cli_calibrate, models_cli, serve_command, subcommands  # noqa: E402,F401


def _redact(text: str) -> str:
    from thinkcli.keys import redact

    return redact(text)


def _click_errors(name: str) -> tuple[type[BaseException], ...]:
    """Click's exception class ``name`` as this Typer raises it (vendored or click's own)."""
    import importlib

    found = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def main() -> None:
    """The `think` program: every failure ends as one `think: error:` line and an exit status."""
    from thinkcli.ui.safe import install_redaction, one_line

    install_redaction(_redact)
    for n, arg in enumerate(sys.argv[1:], 1):
        try:  # bytes that are not UTF-8 reach Python as lone surrogates and break later
            arg.encode("utf-8")
        except UnicodeEncodeError:
            print(f"think: error: argument {n} ({one_line(ascii(arg))}) is not UTF-8 text; pass UTF-8 text",
                  file=sys.stderr)
            sys.exit(int(ExitStatus.USAGE))
    try:
        code = command_for(sys.argv[1:])(prog_name="think", standalone_mode=False)
    except _click_errors("NoArgsIsHelpError") as exc:  # `think config`: the help, as click means it
        print(exc.format_message(), file=sys.stderr)
        code = exc.exit_code
    except _click_errors("ClickException") as exc:  # a usage error: one line, not a boxed panel
        ctx = getattr(exc, "ctx", None)
        hint = f"; see {ctx.command_path} --help" if ctx is not None else ""
        print(f"think: error: {one_line(exc.format_message())}{hint}", file=sys.stderr)
        code = exc.exit_code
    except (typer.Abort, *_click_errors("Abort")):  # Ctrl-C before a command took over
        print("think: interrupted", file=sys.stderr)
        code = int(ExitStatus.INTERRUPTED)
    except Exception as exc:  # a bug: still one line (THINK_DEBUG=1 shows the traceback)
        if os.environ.get("THINK_DEBUG"):
            raise
        print(f"think: error: unexpected {type(exc).__name__}: {one_line(str(exc))} "
              "(a bug in think; rerun with THINK_DEBUG=1 for the traceback)", file=sys.stderr)
        code = int(ExitStatus.ERROR)
    sys.exit(code if isinstance(code, int) else 0)

if __name__ == "__main__":
    main()
