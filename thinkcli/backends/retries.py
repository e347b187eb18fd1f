"""The HTTP side of the remote backend, pure: retry policy, Retry-After, error wording.

Owns which failures are retried and how long to wait, what a transport
exception is called in a message, and how a server's error body is shortened
and scrubbed of keys before a user sees it.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from http import HTTPStatus

RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
# Request fields some compatible servers reject (400); dropped and remembered, never semantics-bearing.
# top_logprobs before logprobs: a complaint about the first names the second too.
OPTIONAL_FIELDS = ("top_logprobs", "logprobs", "stream_options", "seed", "n")
BACKOFF_BASE = 0.5  # seconds before the first retry
BACKOFF_CAP = 30.0
RETRY_AFTER_MAX = 120.0  # a server asking for longer is treated as down


def backoff(attempt: int, jitter: float) -> float:
    """Exponential backoff with up to 25% jitter (``jitter`` in [0, 1)).

    >>> [backoff(a, 0.0) for a in range(4)], backoff(1, 0.5), backoff(20, 0.0)
    ([0.5, 1.0, 2.0, 4.0], 1.125, 30.0)
    """
    return min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt) * (1 + 0.25 * jitter)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta seconds or an HTTP date); None when it
    asks for nothing usable (garbage, a past date, zero, NaN), so the caller backs off instead
    of retrying at once.

    >>> retry_after("2"), retry_after("0.5"), retry_after(None), retry_after("soon")
    (2.0, 0.5, None, None)
    >>> retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0)
    10.0
    >>> retry_after("Wed, 21 Oct 2015 07:28:10 GMT"), retry_after("-3"), retry_after("nan"), retry_after("0")
    (None, None, None, None)
    >>> retry_after("inf")
    inf
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        now = time.time() if now is None else now
        try:
            seconds = when.timestamp() - now
        except (OverflowError, ValueError, OSError):
            return None
    return seconds if seconds > 0 and not math.isnan(seconds) else None


def status_text(code: int, phrase: str = "") -> str:
    """
    >>> status_text(429), status_text(599, "")
    ('429 Too Many Requests', '599')
    """
    if not phrase:
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = ""
    return f"{code} {phrase}".strip()


def server_message(raw: bytes, secrets: tuple[str, ...] = ()) -> str:
    """The one-line gist of an error body, at most 160 characters, with keys blanked.

    >>> server_message(b'{"error": {"message": "Invalid model\\\\n  gpt-5"}}')
    'Invalid model gpt-5'
    >>> server_message(b"bad key sk-abc123 and Bearer sk-abc123", ("sk-abc123",))
    'bad key *** and Bearer ***'
    """
    text = raw.decode("utf-8", "replace")
    try:
        import json

        doc = json.loads(text)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        err = doc.get("error", doc.get("detail", doc.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or err.get("msg") or err
        if isinstance(err, list) and err and isinstance(err[0], dict):
            err = err[0].get("msg") or err[0]
        text = err if isinstance(err, str) else json.dumps(err) if err is not None else text
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = re.sub(r"(?i)(bearer\s+)(?!\*\*\*)\S+", r"\1***", text)
    text = re.sub(r"\bsk-[A-Za-z0-9_\-]{8,}", "***", text)  # any other key-shaped token
    text = " ".join(text.split())
    return text[:157] + "..." if len(text) > 160 else text


def rejected_field(message: str, payload: dict) -> str | None:
    """The optional request field a 400 complains about, if any.

    >>> rejected_field("logprobs is not supported with this model", {"logprobs": True})
    'logprobs'
    >>> rejected_field("'n' : number must be at most 1", {"n": 2})
    'n'
    >>> rejected_field("'temperature' does not support 0.7. Only the default (1) value is supported.",
    ...                {"temperature": 0.7})
    'temperature'
    >>> rejected_field("top_logprobs must be at most 5", {"logprobs": True, "top_logprobs": 20})
    'top_logprobs'
    >>> rejected_field("model not found", {"logprobs": True}) is None
    True
    """
    lower = message.lower()
    for name in ("temperature", "top_p"):  # reasoning models take only the default
        if name in payload and name in lower and "only the default" in lower:
            return name
    for name in OPTIONAL_FIELDS:
        if name not in payload:
            continue
        if name == "n":
            if re.search(r"(?<![a-z_])['\"`]?n['\"`]?(?![a-z_])", lower):
                return name
        elif name in lower:
            return name
    return None


def renamed_field(message: str, payload: dict) -> tuple[str, str] | None:
    """A field the server wants under a new name (OpenAI's reasoning models).

    >>> renamed_field("'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
    ...               {"max_tokens": 5})
    ('max_tokens', 'max_completion_tokens')
    """
    if "max_tokens" in payload and "max_completion_tokens" in message:
        return ("max_tokens", "max_completion_tokens")
    return None


def describe(exc: BaseException) -> str:
    """A transport failure in a few words for the retry line and the error."""
    import httpx

    if isinstance(exc, httpx.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, httpx.ConnectError):
        text = " ".join(str(e).lower() for e in _chain(exc))
        if "refused" in text or any(isinstance(e, ConnectionRefusedError) for e in _chain(exc)):
            return "connection refused"
        if "name or service" in text or "nodename" in text or "resolution" in text:
            return "host name not found"
        return "cannot connect"
    if isinstance(exc, httpx.ReadTimeout):
        return "read timeout"
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        return "connection dropped"
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    return type(exc).__name__


def _chain(exc: BaseException) -> list[BaseException]:
    """An exception and its causes (httpx wraps the OSError that says what happened)."""
    out: list[BaseException] = []
    while exc is not None and exc not in out and len(out) < 8:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def public_url(url: str) -> str:
    """A URL fit for a message: no user:password part.

    >>> public_url("https://me:pw@example.com/v1")
    'https://example.com/v1'
    """
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@]*@", r"\1", url.rstrip("/"), flags=re.I)
