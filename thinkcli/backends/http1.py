"""Plain-HTTP/1.1 requests on asyncio streams, for the servers a batch talks to most: local ones.

httpx over httpcore, anyio and h11 spends about a millisecond of CPU on one small
request and its answer; a batch runs its questions' requests on one event-loop
thread, so that millisecond is what the batch waits for between the server's
answers. ``Lean`` is an httpx transport that speaks HTTP/1.1 itself for http://
URLs (keep-alive, Content-Length, chunked, read until close) and hands everything
else (https, bodies that stream) to the transport behind it. Failures are raised
as the httpx exceptions httpcore would raise, so retries and messages are the same.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import httpx

MAX_HEAD = 64 * 1024  # the most a status line and headers may take
KEEP_ALIVE_S = 5.0  # an idle connection older than this is closed rather than reused (httpx's expiry)


if sys.version_info >= (3, 11):
    _deadline = asyncio.timeout
else:  # pragma: no cover - Python 3.10
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def _deadline(seconds: float | None):
        task = asyncio.current_task()
        handle = asyncio.get_running_loop().call_later(seconds, task.cancel) if seconds is not None else None
        try:
            yield
        except asyncio.CancelledError:
            if handle is not None and handle.when() <= asyncio.get_running_loop().time():
                raise TimeoutError from None
            raise
        finally:
            if handle is not None:
                handle.cancel()


class _Conn:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = 0.0

    def usable(self, now: float | None = None) -> bool:
        """Open on both sides, and (given ``now``) not idle past the keep-alive expiry."""
        fresh = now is None or now - self.idle_since < KEEP_ALIVE_S
        return fresh and not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class _Body(httpx.AsyncByteStream):
    """A response body read off its connection; the connection goes back to the pool once it
    is read to the end, and is closed if the body is left half read."""

    def __init__(self, owner: Lean, key, conn: _Conn, length: int | None, chunked: bool, keep: bool,
                 read_timeout: float | None) -> None:
        self._owner, self._key, self._conn = owner, key, conn
        self._length, self._chunked, self._keep, self._timeout = length, chunked, keep, read_timeout
        self._done = False

    async def _read(self, op):
        try:
            async with _deadline(self._timeout):
                return await op
        except TimeoutError:
            raise httpx.ReadTimeout("timed out reading the response") from None
        except asyncio.IncompleteReadError:
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body") from None
        except (ConnectionError, OSError) as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc

    async def _exactly(self, size: int) -> AsyncIterator[bytes]:
        """``size`` bytes of the body, in pieces of at most 64 KiB."""
        left = size
        while left > 0:
            data = await self._read(self._conn.reader.read(min(left, 1 << 16)))
            if not data:
                raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
            left -= len(data)
            yield data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        reader = self._conn.reader
        if self._chunked:
            while True:
                line = await self._read(reader.readline())
                if not line.endswith(b"\n"):
                    raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise httpx.RemoteProtocolError("malformed chunk size") from None
                if size == 0:
                    while (await self._read(reader.readline())).strip():  # trailers, then the blank line
                        pass
                    break
                async for data in self._exactly(size):  # in pieces: the caller's byte cap sees each
                    yield data
                await self._read(reader.readexactly(2))  # the chunk's CRLF
        elif self._length is not None:
            async for data in self._exactly(self._length):
                yield data
        else:  # no length: the body ends when the server closes the connection
            self._keep = False
            while data := await self._read(reader.read(1 << 16)):
                yield data
        self._done = True

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._done and self._keep and conn.usable():
            conn.idle_since = asyncio.get_running_loop().time()
            self._owner._idle.setdefault(self._key, []).append(conn)
        else:
            conn.close()


class Lean(httpx.AsyncBaseTransport):
    def __init__(self, fallback: httpx.AsyncBaseTransport) -> None:
        self._fallback = fallback
        self._idle: dict[tuple[str, int], list[_Conn]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme != "http" or not isinstance(request.stream, httpx.ByteStream):
            return await self._fallback.handle_async_request(request)
        timeout = request.extensions.get("timeout") or {}
        key = (url.host, url.port or 80)
        head = b"".join([request.method.encode(), b" ", url.raw_path, b" HTTP/1.1\r\n",
                         *(k + b": " + v + b"\r\n" for k, v in request.headers.raw), b"\r\n"])
        payload = head + request.content
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if conn.usable(asyncio.get_running_loop().time()):
                try:  # a kept connection the server closed meanwhile is only found on use: ask again
                    return await self._exchange(key, conn, payload, timeout)
                except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                    if not getattr(exc, "unanswered", False):
                        raise
            conn.close()
        conn = await self._connect(key, timeout.get("connect"))
        return await self._exchange(key, conn, payload, timeout)

    async def _connect(self, key, seconds: float | None) -> _Conn:
        try:
            async with _deadline(seconds):
                reader, writer = await asyncio.open_connection(*key, limit=MAX_HEAD)
        except TimeoutError:
            raise httpx.ConnectTimeout("timed out connecting") from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from exc
        return _Conn(reader, writer)

    @staticmethod
    async def _drain(conn: _Conn, seconds: float | None) -> None:
        try:
            async with _deadline(seconds):
                await conn.writer.drain()
        except TimeoutError:
            conn.close()
            raise httpx.WriteTimeout("timed out sending the request") from None

    async def _exchange(self, key, conn: _Conn, payload: bytes, timeout: dict) -> httpx.Response:
        try:
            conn.writer.write(payload)
            if conn.writer.transport.get_write_buffer_size() > MAX_HEAD:  # a long prompt: wait for the socket
                await self._drain(conn, timeout.get("write"))
            async with _deadline(timeout.get("read")):
                line = await conn.reader.readline()
                if not line:
                    err = httpx.RemoteProtocolError("Server disconnected without sending a response.")
                    err.unanswered = True
                    raise err
                lines = []
                while (header := await conn.reader.readline()) not in (b"\r\n", b"\n"):
                    if not header:
                        raise asyncio.IncompleteReadError(b"", None)
                    lines.append(header)
                    if len(lines) > 256:
                        raise ValueError("too many header lines")
        except TimeoutError:
            conn.close()
            raise httpx.ReadTimeout("timed out waiting for the response") from None
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            conn.close()
            raise httpx.RemoteProtocolError("malformed or incomplete response head") from None
        except (ConnectionError, OSError) as exc:
            conn.close()
            err = httpx.ReadError(str(exc) or type(exc).__name__)
            err.unanswered = True
            raise err from exc
        except BaseException:
            conn.close()
            raise
        parts = line.rstrip(b"\r\n").split(b" ", 2)
        try:
            status = int(parts[1])
        except (IndexError, ValueError):
            conn.close()
            raise httpx.RemoteProtocolError(f"malformed status line {line[:80]!r}") from None
        headers = [(k.strip(), v.strip()) for k, _, v in (h.partition(b":") for h in lines) if _]
        fields = {k.lower(): v for k, v in headers}
        chunked = b"chunked" in fields.get(b"transfer-encoding", b"").lower()
        length = None if chunked or b"content-length" not in fields else int(fields[b"content-length"])
        keep = parts[0] == b"HTTP/1.1" and fields.get(b"connection", b"").lower() != b"close"
        body = _Body(self, key, conn, length, chunked, keep, timeout.get("read"))
        reason = parts[2].decode("latin-1") if len(parts) > 2 else ""
        return httpx.Response(status, headers=headers, stream=body,
                              extensions={"http_version": parts[0], "reason_phrase": reason.encode("latin-1")})

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for conns in idle.values():
            for conn in conns:
                conn.close()
        await self._fallback.aclose()
