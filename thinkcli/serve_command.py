"""`think serve`: the command line of the OpenAI-compatible server (the server itself is thinkcli.serve).

Registers on the app that ``cli.py`` defines; imports no web framework until
the command runs, so ``think --help`` stays fast.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from thinkcli.cli_app import app, handles_errors
from thinkcli.errors import ExitStatus, ThinkError, UsageError

KEY_ENV = "THINK_SERVE_API_KEY"


@app.command(
    "serve",
    help="Serve every effort and strategy behind an OpenAI-compatible endpoint "
    "(POST /v1/chat/completions, GET /v1/models, GET /health).\n\n"
    "Clients pick the compute by model name (think-low, think-medium, think-high, think-auto, "
    "or think-EFFORT/MODEL) or by a `think` object in the body. Needs the serve extra: "
    "pip install 'thinkcli\\[serve]'.",
)
@handles_errors
def serve_cmd(
    model: Annotated[list[str] | None, typer.Option("--model", "-m", metavar="REF", help="Model to serve (repeatable; the first is the default): a .gguf path, an alias, or scheme:name. Default: the embedded SmolLM2-135M.", show_default=False)] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on; anything but loopback needs --api-key.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free port, printed at start).")] = 8600,
    api_key: Annotated[str | None, typer.Option("--api-key", metavar="KEY", help=f"Clients must send 'Authorization: Bearer KEY' (also {KEY_ENV}).", show_default=False)] = None,
    max_queue: Annotated[int, typer.Option("--max-queue", min=0, help="Runs that may wait for a free slot; more get 429.")] = 32,
    max_concurrency: Annotated[int | None, typer.Option("--max-concurrency", min=1, max=256, help="Runs at once \\[default: 1 for a local model, 16 for remote ones].", show_default=False)] = None,
    max_cost_per_request: Annotated[float | None, typer.Option("--max-cost-per-request", min=0.0, metavar="USD", help="Cost cap of every run; a request's own max_cost may only lower it.", show_default=False)] = None,
    max_body: Annotated[int, typer.Option("--max-body", min=1024, metavar="BYTES", help="Largest request body; larger ones get 413.")] = 4 * 1024 * 1024,
    grace: Annotated[float, typer.Option("--grace", min=0.0, metavar="SECONDS", help="On SIGTERM or Ctrl-C, how long in-flight runs may finish before they are cancelled.")] = 30.0,
    base_url: Annotated[str | None, typer.Option("--base-url", metavar="URL", help="OpenAI-compatible upstream for openai: models (also THINK_BASE_URL, OPENAI_BASE_URL).", show_default=False)] = None,
    parallel: Annotated[int | None, typer.Option("--parallel", min=1, max=64, metavar="K", help="Concurrent upstream requests of one run when the upstream ignores n \\[default: 4].", show_default=False)] = None,
    max_retries: Annotated[int | None, typer.Option("--max-retries", min=0, max=20, metavar="N", help="Retries of an upstream request on 429/5xx/connection errors \\[default: 4].", show_default=False)] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="llama.cpp threads (default: physical cores).", show_default=False)] = None,
) -> None:
    from thinkcli import config, serve

    missing = serve.missing_dependency()
    if missing:
        raise ThinkError(f"think serve needs {missing}, which is not installed; run {serve.EXTRA_HINT}",
                         ExitStatus.UNAVAILABLE)
    key = api_key if api_key is not None else os.environ.get(KEY_ENV) or None
    if key is not None and not key.strip():
        raise UsageError(f"--api-key is empty; give a key or unset {KEY_ENV}")
    from thinkcli.serve.auth import is_loopback

    if not is_loopback(host) and key is None:
        raise UsageError(f"--host {host} lets other machines in; give --api-key KEY (or set {KEY_ENV}), "
                         "or keep the default --host 127.0.0.1")
    settings = config.load()
    flags = {"threads": threads, "base_url": base_url, "parallel": parallel, "max_retries": max_retries}
    settings.update({k: v for k, v in flags.items() if v is not None})
    from thinkcli.serve.app import Options
    from thinkcli.serve.server import serve as run_server

    options = Options(models=list(model) if model else [settings["model"]], settings=settings, api_key=key,
                      max_queue=max_queue, max_concurrency=max_concurrency,
                      max_cost_per_request=max_cost_per_request, max_body=max_body, grace=grace)
    run_server(host, port, options)
