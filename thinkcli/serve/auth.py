"""API-key check for the server: a bearer token compared in constant time.

The key itself is never logged or echoed; a failed check says only what is wrong.
"""

from __future__ import annotations

import hmac

from thinkcli.serve.errors import APIError

LOOPBACK = ("127.", "::1", "localhost")


def is_loopback(host: str) -> bool:
    """
    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0"), is_loopback("192.168.1.2")
    (True, True, False, False)
    """
    return host.startswith(LOOPBACK)


def check(expected: str | None, header: str | None) -> None:
    """Raise a 401 unless ``header`` is ``Bearer <expected>`` (no key configured: everyone passes)."""
    if expected is None:
        return
    scheme, _, token = (header or "").partition(" ")
    if not header or scheme.lower() != "bearer":
        raise APIError(401, "Missing API key: send it as 'Authorization: Bearer KEY'", code="invalid_api_key")
    # Compare bytes of the same encoding so timing reveals neither length nor content of a prefix.
    if not hmac.compare_digest(token.strip().encode("utf-8"), expected.encode("utf-8")):
        raise APIError(401, "Incorrect API key provided", code="invalid_api_key")
