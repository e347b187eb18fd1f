"""Connections to one server: plain HTTP through ``http1.Lean``; https through many small
httpx pools instead of one large one.

httpcore's pool walks every connection it holds (an expiry check, two system
calls each) every time a request starts or ends, and counts idle connections
with a walk inside that walk, so with 32 requests in flight the pool, not the
server, limits a batch. ``Shards`` spreads requests over pools of at most
``SHARD`` requests in flight each, reusing idle connections first and opening
another pool when all are full, so each walk stays short. Connections are kept
alive without a count limit (httpx's default keeps 20, so a batch of 32 closed
and reopened 12 after every answer): the pools grow to the concurrency actually
used, and an idle connection is closed after httpx's keep-alive expiry.
"""

from __future__ import annotations

import ssl
import urllib.request

import httpx

from thinkcli.backends.http1 import Lean

SHARD = 4  # requests in flight per pool
KEEP_ALL = httpx.Limits(max_connections=None, max_keepalive_connections=None)


class _Shard:
    def __init__(self, transport: httpx.AsyncHTTPTransport) -> None:
        self.transport = transport
        self.busy = 0  # requests sent and not yet closed
        self.opened = 0  # the most it had in flight: the connections it holds (until they expire)


class _Counted(httpx.AsyncByteStream):
    """A response body that frees its shard's place once closed (or failed)."""

    def __init__(self, stream, shard: _Shard) -> None:
        self._stream, self._shard, self._open = stream, shard, True

    async def __aiter__(self):
        async for piece in self._stream:
            yield piece

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:  # only now is its connection idle again: counted free earlier, it would be passed over
            if self._open:
                self._open = False
                self._shard.busy -= 1


class Shards(httpx.AsyncBaseTransport):
    def __init__(self, size: int = SHARD, verify: ssl.SSLContext | None = None) -> None:
        self.size = size
        self._verify = verify
        self._shards: list[_Shard] = []

    def _pick(self) -> _Shard:
        """A pool with an idle connection, else the least busy one with room, else a new one:
        connections opened never exceed the requests in flight at once."""
        for shard in self._shards:
            if shard.busy < shard.opened:
                return shard
        shard = min(self._shards, key=lambda s: s.busy, default=None)
        if shard is None or shard.busy >= self.size:
            if self._verify is None:  # one certificate store for every pool: loading it is the slow part
                self._verify = httpx.create_ssl_context()
            shard = _Shard(httpx.AsyncHTTPTransport(verify=self._verify, limits=KEEP_ALL))
            self._shards.append(shard)
        return shard

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        shard = self._pick()
        shard.busy += 1
        shard.opened = max(shard.opened, shard.busy)
        try:
            response = await shard.transport.handle_async_request(request)
        except BaseException:
            shard.busy -= 1
            raise
        response.stream = _Counted(response.stream, shard)
        return response

    async def aclose(self) -> None:
        shards, self._shards = self._shards, []
        for shard in shards:
            await shard.transport.aclose()


class Connections:
    """One backend's way to its server: ``transport`` when given (tests), else the lean HTTP/1.1
    transport for http:// over sharded pools for https://; behind a proxy (HTTP_PROXY and
    friends) httpx's own pool, which routes through it."""

    def __init__(self, timeout: httpx.Timeout, transport: httpx.AsyncBaseTransport | None = None) -> None:
        proxied = transport is None and bool(urllib.request.getproxies())
        self.transport = None if proxied else transport or Lean(Shards())
        self.client = httpx.AsyncClient(timeout=timeout, transport=self.transport, limits=KEEP_ALL,
                                        follow_redirects=False)
        self._timeout = timeout.as_dict()

    async def post(self, url: str, payload: dict, headers: dict[str, str]) -> httpx.Response:
        """POST ``payload`` as JSON; the response's body is left to stream. Straight to the
        transport when there is no proxy: the client's layers (auth, redirects, cookies, hooks,
        none of them used) cost as much again as the HTTP exchange itself."""
        if self.transport is None:
            return await self.client.send(self.client.build_request("POST", url, json=payload, headers=headers),
                                          stream=True)
        request = httpx.Request("POST", url, json=payload, headers={**self.client.headers, **headers},
                                extensions={"timeout": self._timeout})
        response = await self.transport.handle_async_request(request)
        response.request = request
        return response

    async def aclose(self) -> None:
        await self.client.aclose()
