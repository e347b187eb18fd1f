"""The Typer app every command registers on, the shared option types, and the one place
that turns a failure into one stderr line and its exit status."""

from __future__ import annotations

import functools
import os
import sys
from enum import Enum

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


APP_SETTINGS = dict(
    cls=DefaultGroup,
    add_completion=False,
    no_args_is_help=False,
    pretty_exceptions_show_locals=False,  # locals could hold API keys
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Spend more compute at answer time to get a better answer from a language model.",
)
app = typer.Typer(**APP_SETTINGS)


def command_for(args: list[str]):
    """The click command that runs ``think ARGS``. When the first word names a subcommand
    (batch, bench, logs, ...), only that one is built: typer turns every option of every
    command it is given into a click parameter, which cost `think batch` 17 ms of start-up.
    Plainly valid option values skip typer's pydantic validation (cli_coerce.py)."""
    import typer.main

    from thinkcli.cli_coerce import lean

    name = args[0] if args else None
    chosen = [c for c in app.registered_commands if c.name == name and name != DefaultGroup.default]
    if chosen:
        one = typer.Typer(**APP_SETTINGS)
        one.registered_commands = chosen
        command = typer.main.get_group(one)
    else:
        command = typer.main.get_command(app)
    lean(command)
    return command


class Effort(str, Enum):
    low = "low"
    medium = "medium"
    high = "high"
    auto = "auto"


class PromptStyle(str, Enum):
    direct = "direct"
    steps = "steps"
    program = "program"


def _strategy_choices(argv: list[str]) -> type[Enum]:
    """--strategy's choices: the table's names, plus an installed plugin's strategy when the
    command line asks for one the table lacks (entry points are only scanned then: start-up stays fast)."""
    from thinkcli.strategies import STRATEGIES, spec  # the table only: strategy modules load on use

    asked = [b for a, b in zip(argv, argv[1:], strict=False) if a == "--strategy"]
    asked += [a.split("=", 1)[1] for a in argv if a.startswith("--strategy=")]
    for name in asked:
        if name not in STRATEGIES:
            try:
                spec(name)  # registers it when a plugin provides it
            except ThinkError:
                pass  # Typer rejects it with the list of choices
    return Enum("Strategy", {name: name for name in STRATEGIES}, type=str)


Strategy = _strategy_choices(sys.argv)


def fail(message: str, status: ExitStatus) -> typer.Exit:
    from thinkcli.ui.safe import one_line

    print(f"think: error: {one_line(message)}", file=sys.stderr)
    return typer.Exit(int(status))


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled like Ctrl-C: the same cleanup, then exit 128 + the signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_received: list[int] = []  # the signal that ended this run, if one did


def _on_signal(signum, frame) -> None:
    if _received:
        return  # cleanup from the first one is under way: let it finish
    _received.append(signum)
    raise Terminated(signum)


def handles_errors(func):
    """Turn expected failures into one line on stderr and the right exit status; SIGTERM and
    SIGHUP stop the run the way Ctrl-C does (child groups killed, copies removed, best answer
    printed) and exit 128 + the signal."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import signal

        previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGHUP)}
        try:
            return func(*args, **kwargs)
        except ThinkError as exc:
            raise fail(exc.message, exc.status) from None
        except KeyboardInterrupt:
            print("think: interrupted", file=sys.stderr)
            raise typer.Exit(_interrupted_status()) from None
        except BrokenPipeError:  # `think ... | head` closed the pipe: not our failure
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(int(ExitStatus.SUCCESS)) from None
        except typer.Exit as done:
            if done.exit_code == ExitStatus.INTERRUPTED:
                raise typer.Exit(_interrupted_status()) from None
            raise
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    return wrapper


def _interrupted_status() -> int:
    return 128 + _received[0] if _received else int(ExitStatus.INTERRUPTED)


def _version(value: bool) -> None:
    if value:
        print(f"think {__version__}")
        raise typer.Exit()


def csv_list(text: str, flag: str, parse=str, choices: tuple[str, ...] | None = None) -> list:
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
