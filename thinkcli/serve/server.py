"""Running the app: the listening socket, uvicorn, and a graceful stop.

SIGTERM or Ctrl-C stops accepting connections; runs in flight may finish for
``grace`` seconds, then they are cancelled and answer with their best so far;
the process exits 0. A model that fails to load stops the server with that
error's exit status.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

from thinkcli.errors import ThinkError
from thinkcli.serve.app import Options, build


def listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ThinkError(f"cannot listen on {host}:{port} ({exc.strerror}); pick another --port or --host") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(host: str, port: int, options: Options) -> None:
    import uvicorn

    sock = listen(host, port)
    app, state = build(options)
    # The graceful stop is ours (cancel runs after `grace`); uvicorn's own limit is only a backstop.
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=options.grace + 10, timeout_keep_alive=5)

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            if not self.should_exit:
                print("think serve: stopping: no new connections; in-flight runs get "
                      f"{options.grace:g} s to finish", file=sys.stderr, flush=True)
                loop.call_soon_threadsafe(loop.call_later, options.grace, state.cancel_all)
            super().handle_exit(sig, frame)

    server = Server(config)

    def stop_on_failure() -> None:
        loop.call_soon_threadsafe(setattr, server, "should_exit", True)

    state.on_failure = stop_on_failure
    host_shown = f"[{host}]" if ":" in host else host
    print(f"think serve: listening on http://{host_shown}:{sock.getsockname()[1]}/v1", file=sys.stderr, flush=True)
    # uvicorn re-raises the signal it caught once it has stopped; a no-op handler makes that exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    loop = None

    async def main() -> None:
        nonlocal loop
        loop = asyncio.get_running_loop()
        await server.serve(sockets=[sock])

    asyncio.run(main())
    if state.failure is not None:
        if isinstance(state.failure, ThinkError):
            raise state.failure
        raise ThinkError(f"the model failed to load: {type(state.failure).__name__}: {state.failure}")
