"""`think models` (list), `think models pull`, `think models rm`, and pulling a model on first use.

Thin commands over ``hub``/``hub_pull`` (imported lazily: `think --help` never loads
huggingface_hub); the progress display is ``ui.pull``.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from thinkcli.cli_app import app, handles_errors
from thinkcli.errors import ModelUnavailable, UsageError

models_app = typer.Typer(
    help="List the models on this machine (the default is marked *); pull one from Hugging Face or a URL; remove one.",
    invoke_without_command=True,
)
app.add_typer(models_app, name="models")


@models_app.callback(invoke_without_command=True)
@handles_errors
def models_list(
    ctx: typer.Context,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    if ctx.invoked_subcommand:
        return
    from thinkcli import config
    from thinkcli.backends.catalog import list_models

    rows = list_models(config.load())
    _mark_calibrated(rows)
    if json_out:
        import json

        print(json.dumps(rows, indent=2))
        return
    print(table(rows))


def _mark_calibrated(rows: list[dict]) -> None:
    """Fill each model file's "calibrated" from `think calibrate`'s profiles, keyed by the file's
    sha256: free for Hub blobs (named by it), hashed once for the embedded model, otherwise only
    when already known. Left None (shown "-") where unknown or without the profiles module."""
    try:
        from thinkcli import profiles
    except ImportError:  # a build without calibration profiles
        return
    for row in rows:
        if not row.get("path") or row["kind"] not in ("embedded", "hf", "gguf", "url"):
            continue
        real = os.path.realpath(row["path"])
        blob = os.path.basename(real)
        if row["kind"] == "hf" and len(blob) == 64:
            key = f"sha256:{blob}"
        else:
            from pathlib import Path

            key = profiles.file_hash(Path(real), compute=row["kind"] == "embedded")
        row["calibrated"] = None if key is None else profiles.find(key) is not None


def table(rows: list[dict]) -> str:
    """NAME SIZE QUANT SOURCE ALIAS CALIBRATED, one model a line; aliases and remotes after."""
    head = ("", "NAME", "SIZE", "QUANT", "SOURCE", "ALIAS", "CALIBRATED")
    lines = [head]
    for r in rows:
        mark = "*" if r["default"] else " "
        if r["kind"] == "alias":
            lines.append((mark, r["name"], "", "", f"alias of {r['target']}", "", ""))
        elif r["kind"] == "remote":
            lines.append((mark, r["name"], "", "", r["base_url"], "", ""))
        else:
            size = f"{r['size_mb'] / 1000:.1f} GB" if (r["size_mb"] or 0) >= 1000 else f"{r['size_mb'] or 0:.0f} MB"
            cal = {True: "yes", False: "no", None: "-"}[r.get("calibrated")]
            source = r["source"] + ("" if r.get("usable", True) else f" [unusable: {r.get('problem', '')}]")
            lines.append((mark, r["name"], size, r.get("quant") or "-", source, ",".join(r["aliases"]) or "-", cal))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    return "\n".join(" ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines)


@models_app.command("pull", help="Download a model: hf.co/USER/REPO[:QUANT] (Q4_K_M by default, else the closest "
                    "quant there; split files whole) into the Hugging Face cache, or the https:// URL of a .gguf "
                    "file into the user data dir. Resumes a cut download; checks each file's sha256.")
@handles_errors
def pull_cmd(
    ref: Annotated[str, typer.Argument(metavar="REF", help="hf.co/USER/REPO[:QUANT] or https://.../NAME.gguf.")],
    alias: Annotated[str | None, typer.Option("--alias", metavar="NAME", help="Also name it NAME, for `think -m NAME`.", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    from thinkcli import config, hub

    if alias is not None:
        _check_alias(alias)
    if not hub.is_pull_ref(ref):
        raise UsageError(f"cannot pull {ref!r}: give hf.co/USER/REPO[:QUANT] or the https:// URL of a .gguf file")
    pulled = pull_with_progress(ref, quiet=quiet)
    if alias is not None:
        config.set_value(f"aliases.{alias}", pulled.name)
        print(f"think: alias {alias} -> {pulled.name}", file=sys.stderr)
    print(pulled.name)


def _check_alias(name: str) -> None:
    import re

    from thinkcli.backends.models import LOCAL_ALIASES

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name) or name in LOCAL_ALIASES:
        raise UsageError(f"--alias {name!r}: use letters, digits, '_', '.' or '-', and not one of "
                         f"{', '.join(sorted(LOCAL_ALIASES))}")


def pull_with_progress(ref: str, quiet: bool = False):
    """Pull with a progress display on stderr and one closing line; return hub_pull.Pulled."""
    from thinkcli.hub_pull import pull
    from thinkcli.hub_transfer import human
    from thinkcli.ui.pull import make_pull_progress

    progress = make_pull_progress(quiet)
    try:
        pulled = pull(ref, progress)
    except KeyboardInterrupt:
        progress.close()
        print(f"think: the partial download is kept; run `think models pull {ref}` to resume", file=sys.stderr)
        raise
    finally:
        progress.close()
    if not quiet:
        state = f"{human(pulled.fetched)} fetched" if pulled.fetched else "already here, nothing fetched"
        why = f"; {pulled.note}" if pulled.note else ""
        print(f"think: {pulled.name} ({human(pulled.size)}, {len(pulled.files)} file"
              f"{'s' if len(pulled.files) > 1 else ''}): {state}{why}", file=sys.stderr)
    return pulled


@models_app.command("rm", help="Delete a pulled model (by alias, hf.co/... reference, URL or file name) and the "
                    "aliases that name it. Files another snapshot of the repo still uses stay.")
@handles_errors
def rm_cmd(name: Annotated[str, typer.Argument(metavar="NAME", help="An alias, hf.co/USER/REPO[:QUANT], a URL, or a file name from `think models`.")]) -> None:
    from thinkcli import config
    from thinkcli.hub_pull import remove

    aliases = config.load().get("aliases") or {}
    ref, files = remove(name, aliases)
    for alias, target in sorted(aliases.items()):
        if alias == name or target == ref or target == aliases.get(name):
            config.unset(f"aliases.{alias}")
            print(f"think: removed alias {alias}", file=sys.stderr)
    print(f"think: removed {ref} ({len(files)} file{'s' if len(files) != 1 else ''})", file=sys.stderr)


def ensure_pulled(model: str | None, settings: dict) -> None:
    """Before a run: a pull reference that is not here yet is pulled after asking on a terminal;
    without one (or under PRE_COMMIT=1) the run fails later with the pull command."""
    from thinkcli import hub

    aliases = settings.get("aliases") or {}
    ref, seen = model, set()
    while ref in aliases and ref not in seen:
        seen.add(ref)
        ref = aliases[ref]
    if not hub.is_pull_ref(ref) or hub.cached_path(ref) is not None:
        return
    if os.environ.get("PRE_COMMIT") == "1" or not (sys.stdin.isatty() and sys.stderr.isatty()):
        return  # resolving the model raises NotPulled, naming `think models pull`
    print(f"think: {ref} is not on this machine yet. Pull it now? [Y/n] ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("", "y", "yes"):
        raise ModelUnavailable(f"model {ref} is not pulled; run `think models pull {ref}`")
    pull_with_progress(ref)
