"""The lean HTTP/1.1 transport against raw servers on 127.0.0.1 that answer with exact bytes:
body framings, keep-alive reuse, a kept connection the server closed, timeouts, and what
it hands to the transport behind it. (Every fault-server test drives it too.)"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from thinkcli.backends.http1 import Lean


class Raw:
    """A server that reads one request head (and its Content-Length body) and writes the next
    scripted answer; ``close_after`` closes each connection after that many answers."""

    def __init__(self, answers: list[bytes], close_after: int | None = None, pause: float = 0.0) -> None:
        self.answers, self.close_after, self.pause = list(answers), close_after, pause
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while self.answers:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                self.requests.append(head + await reader.readexactly(length))
                await asyncio.sleep(self.pause)
                writer.write(self.answers.pop(0))
                await writer.drain()
                served += 1
                if self.close_after is not None and served >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


async def exchange(raw: Raw, count: int = 1, timeout: float = 5.0, gap: float = 0.0) -> list[tuple[int, bytes]]:
    server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = Lean(httpx.AsyncHTTPTransport())
    client = httpx.AsyncClient(transport=transport, timeout=timeout)
    out = []
    try:
        for _ in range(count):
            resp = await client.post(f"http://127.0.0.1:{port}/v1/x", json={"q": 1})
            out.append((resp.status_code, resp.content))
            await asyncio.sleep(gap)
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    return out


def run(coro):
    return asyncio.run(coro)


def test_content_length_chunked_and_read_until_close_bodies():
    raw = Raw([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
               b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: x\r\n\r\n",
               b"HTTP/1.0 200 OK\r\n\r\nuntil close",
               b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"], close_after=3)
    assert run(exchange(raw, 4)) == [(200, b"hello"), (201, b"abcde"), (200, b"until close"), (200, b"next")]
    assert raw.connections == 2, "kept alive after the framed bodies, a new one after the HTTP/1.0 one"
    assert raw.requests[0].startswith(b"POST /v1/x HTTP/1.1\r\n") and raw.requests[0].endswith(b'{"q":1}')


def test_a_kept_connection_the_server_closed_is_replaced_without_losing_the_request():
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    raw = Raw([ok, ok, ok], close_after=1)  # keep-alive promised, connection closed anyway
    assert run(exchange(raw, 3, gap=0.05)) == [(200, b"ok")] * 3
    assert raw.connections == 3 and len(raw.requests) == 3


def test_a_server_that_never_answers_is_a_read_timeout():
    raw = Raw([b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"], pause=2.0)
    with pytest.raises(httpx.ReadTimeout):
        run(exchange(raw, 1, timeout=0.3))


def test_a_body_cut_short_is_a_protocol_error_and_nothing_listening_a_connect_error():
    raw = Raw([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"], close_after=1)
    with pytest.raises(httpx.RemoteProtocolError):
        run(exchange(raw, 1))

    async def refused():
        transport = Lean(httpx.AsyncHTTPTransport())
        async with httpx.AsyncClient(transport=transport) as client:
            await client.get("http://127.0.0.1:9/")  # the discard port: nothing listens

    with pytest.raises(httpx.ConnectError):
        run(refused())


def test_https_and_streamed_bodies_go_to_the_transport_behind():
    seen = []
    behind = httpx.MockTransport(lambda request: seen.append(str(request.url)) or httpx.Response(204))

    async def calls():
        async def body():
            yield b"x"

        async with httpx.AsyncClient(transport=Lean(behind)) as client:
            await client.post("https://api.example.test/v1/x", json={})
            await client.post("http://127.0.0.1:9/v1/y", content=body())

    run(calls())
    assert seen == ["https://api.example.test/v1/x", "http://127.0.0.1:9/v1/y"]
