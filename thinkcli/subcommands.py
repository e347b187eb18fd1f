"""The subcommands beside `think QUESTION` (batch, bench, calibrate: cli_batch.py, cli_bench.py, cli_calibrate.py): logs, fix, config, keys (models: models_cli.py).

Each is a thin Typer command over a module that does the work, imported lazily
so `think --help` stays fast. They register on the app in `cli_app.py`; `cli.py` imports this module.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from thinkcli.cli_app import Effort, app, fail, handles_errors
from thinkcli.errors import ExitStatus, ThinkError

config_app = typer.Typer(help="Read and write settings in the config file.", no_args_is_help=True)


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
        docs = []
        for r in rows:
            try:
                doc = json.loads(r["document"])
            except (TypeError, ValueError):  # a row damaged on disk still shows what it has
                doc = {"answer": r["answer"]}
            docs.append((doc if isinstance(doc, dict) else {}) | {"prompt": r["prompt"], "at": r["at"]})
        print(json.dumps(docs, indent=2))
        return
    from thinkcli.ui.safe import for_terminal

    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r["at"]))
        prompt = " ".join(r["prompt"].split())[:60]
        answer = " ".join((r["answer"] or "").split())[:40]
        line = f"#{r['id']} {when} {r['model']} {r['strategy']} exit {r['status']} · {prompt!r} → {answer!r}"
        print(for_terminal(line) if sys.stdout.isatty() else line)


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
    verify_env: Annotated[list[str] | None, typer.Option("--verify-env", metavar="NAME", help="Pass this environment variable to CMD although it looks like a secret (repeatable; config key verify_env).", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live view and no summary line.")] = False,
) -> None:
    from thinkcli import config
    from thinkcli.events import FanOut, Final, ListSink
    from thinkcli.fix import FixOptions, run_fix
    from thinkcli.ui import make_renderer
    from thinkcli.ui.safe import terminal_safe

    if not verify.strip():
        raise fail('think fix needs --verify CMD, e.g. --verify "python -m pytest -q"', ExitStatus.USAGE)
    settings = config.load()
    config.check_flags(locals())
    ask = {"model": model, "effort": effort, "strategy": strategy, "samples": samples, "max_tokens": max_tokens,
           "temperature": temperature, "seed": seed, "verify_timeout": verify_timeout, "verify_env": verify_env}
    opts = FixOptions(files=files or [], verify=verify, dry_run=dry_run, patch_file=patch, settings=settings, ask=ask)
    renderer = make_renderer(json_mode=False, quiet=quiet)
    final = ListSink()
    try:
        status = run_fix(opts, sink=FanOut(renderer, final),
                         stdout=terminal_safe(sys.stdout), stderr=terminal_safe(sys.stderr))
    finally:
        renderer.stop()
    done = final.of(Final)
    renderer.close(done[0].result if done else None)
    raise typer.Exit(int(status))


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
    name: Annotated[str, typer.Argument(help="A provider name such as openai or groq; huggingface for the Hub token of `think models pull`.")],
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


app.add_typer(config_app, name="config")
