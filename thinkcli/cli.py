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
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model: a .gguf path, an alias, a pulled hf.co/USER/REPO[:QUANT] (asks to pull it if missing), or scheme:name. Default: the embedded SmolLM2-135M.", show_default=False)] = None,
    effort: Annotated[Effort | None, typer.Option("--effort", "-e", help="How much compute to spend: low | medium | high | auto.", show_default=False)] = None,
    samples: Annotated[int | None, typer.Option("--samples", "-n", min=1, max=256, help="Number of samples (overrides the preset).", show_default=False)] = None,
    max_tokens: Annotated[int | None, typer.Option("--max-tokens", min=1, help="Completion tokens per sample \\[default: 512].", show_default=False)] = None,
    temperature: Annotated[float | None, typer.Option("--temperature", "-t", min=0.0, max=5.0, help="Sampling temperature.", show_default=False)] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed, for reproducible samples.", show_default=False)] = None,
    prompt_style: Annotated[PromptStyle | None, typer.Option("--prompt-style", help="direct (just answer) or steps (reason step by step). Default: chosen per model.", show_default=False)] = None,
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
    from thinkcli.engine import Budgets, Request
    from thinkcli.inputs import build_prompt

    settings = config.load()
    config.check_flags(locals())
    text = build_prompt(prompt or [], file or [])
    flags = {
        "threads": threads,
        "base_url": base_url,
        "parallel": parallel,
        "max_retries": max_retries,
    }
    settings.update({k: v for k, v in flags.items() if v is not None})
    from thinkcli.models_cli import ensure_pulled

    ensure_pulled(model or settings["model"], settings)
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
        verify_env=config.env_names(verify_env, settings),
        plan_overrides={k: v for k, v in {"confidence": confidence, "rounds": rounds, "beam_width": beam_width,
                        "think_min": think_min, "think_max": think_max,
                        "select": _select_rule(select or settings["select"])}.items() if v is not None},
        judge=judge or judge_model is not None,
        judge_model=judge_model,
        settings=settings,
    )
    raise typer.Exit(int(_run(request, json_out=json_out, quiet=quiet)))


def _select_rule(spec: str | None) -> str | None:
    """The --select rule in its normal spelling; a bad one is a usage error before anything runs."""
    if spec is None:
        return None
    from thinkcli.select import parse_rule

    return str(parse_rule(spec))


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


# The other subcommands register themselves on `app` (imported late: they need it).
from thinkcli import models_cli, subcommands  # noqa: E402,F401


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
        code = app(prog_name="think", standalone_mode=False)
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
