"""OpenAI-style error objects: what a client gets back when a request cannot be served.

Every failure the server answers is an ``APIError`` with an HTTP status and the
``{"error": {"message", "type", "param", "code"}}`` body OpenAI clients parse.
A run's ``ThinkError`` is mapped here, once, by its exit status.
"""

from __future__ import annotations

from typing import Any

from thinkcli.errors import BackendError, ModelUnavailable, ThinkError


class APIError(Exception):
    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def unknown_model(name: str, known: list[str]) -> APIError:
    listed = ", ".join(known[:12])
    return APIError(404, f"The model {name!r} does not exist on this server; GET /v1/models lists them ({listed})",
                    param="model", code="model_not_found")


def loading() -> APIError:
    return APIError(503, "The model is still loading; retry in a few seconds", "server_error",
                    code="model_loading", headers={"Retry-After": "2"})


def queue_full(limit: int) -> APIError:
    return APIError(429, f"The server's queue is full ({limit} waiting runs); retry later", "rate_limit_error",
                    code="queue_full", headers={"Retry-After": "1"})


def from_think_error(exc: ThinkError) -> APIError:
    """A run's failure: the upstream's (HTTP errors after retries, unreachable) is 502; else the request's, 400."""
    if isinstance(exc, (BackendError, ModelUnavailable)):
        return APIError(502, exc.message, "upstream_error", code="upstream_failed")
    return APIError(400, exc.message)


def internal(exc: BaseException) -> APIError:
    return APIError(500, f"internal error ({type(exc).__name__}); the server log has details", "server_error")
