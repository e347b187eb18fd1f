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
    "Other commands: think models, think config get|set|unset|path. "
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
    max_total_tokens: Annotated[int | None, typer.Option("--max-total-tokens", min=1, help="Token budget for the whole run.", show_default=False)] = None,
    time_limit: Annotated[float | None, typer.Option("--time-limit", min=0.0, help="Wall-time budget, seconds.", show_default=False)] = None,
    max_cost: Annotated[float | None, typer.Option("--max-cost", min=0.0, help="Cost budget, USD.", show_default=False)] = None,
    verify: Annotated[str | None, typer.Option("--verify", metavar="CMD", help="Shell command that checks each candidate in a throw-away copy of the project (exit 0 = pass); exit 4 when none passes.", show_default=False)] = None,
    verify_timeout: Annotated[float | None, typer.Option("--verify-timeout", min=0.1, help="Seconds the --verify command may run before its process group is killed \\[default: 60].", show_default=False)] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="llama.cpp threads (default: physical cores).", show_default=False)] = None,
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
    }
    settings.update({k: v for k, v in flags.items() if v is not None})
    request = Request(
        prompt=text,
        system=system if system is not None else settings["system"],
        model=model or settings["model"],
        effort=(effort.value if effort else settings["effort"]),
        strategy=settings["strategy"],
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


def main() -> None:
    app(prog_name="think")


if __name__ == "__main__":
    main()
