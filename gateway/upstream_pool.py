"""Keep-alive HTTP/1.1 connections from the gateway to the services.

A small client on asyncio protocols with httptools (the C parser uvicorn serves with) doing only
what a reverse proxy needs: send a request head and body, stream the response back, reuse the
connection. It exists because every proxied request pays for the client twice over: httpx's
pool costs several times a whole FastAPI request per call here, and grows with the number of
pooled connections, which alone would hold the gateway far below its throughput target.

Connections are reused last-in first-out (the warmest first), dropped after
``idle_seconds`` unused (below the services' keep-alive timeout, so the gateway never writes
into a socket the service is closing), and capped per service.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

import httptools

RawHeaders = list[tuple[bytes, bytes]]
RequestBody = bytes | AsyncIterator[bytes] | None

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})

# Response bytes buffered before reading from the service pauses (backpressure).
_READ_HIGH_WATER = 256 * 1024
_READ_LOW_WATER = 64 * 1024


class UpstreamError(Exception):
    """The exchange with a service failed."""


class UpstreamConnectFailed(UpstreamError):
    """No connection could be made (or none was free in time); nothing reached the service."""


class UpstreamTimeout(UpstreamError):
    """The service did not answer in time."""


class UpstreamBrokeOff(UpstreamError):
    """The connection dropped mid-exchange, or the service answered with something invalid."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a service listens."""

    scheme: str
    host: str
    port: int

    @classmethod
    def parse(cls, base_url: str) -> Origin:
        """The origin of an ``http(s)://host[:port][/path]`` URL (the path is not part of it)."""
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) base URL: {base_url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port)

    @property
    def authority(self) -> bytes:
        """The Host header value for this origin."""
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (host if self.port == default else f"{host}:{self.port}").encode("ascii")


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """Timeouts in seconds, and how many connections each service may have."""

    connect_timeout: float
    read_timeout: float
    pool_timeout: float
    max_connections_per_origin: int
    idle_seconds: float


class UpstreamResponse:
    """A response whose body is still arriving; call :meth:`close` when done with it."""

    def __init__(self, connection: _Connection, status: int, headers: RawHeaders) -> None:
        self.status = status
        self.headers = headers
        self._connection = connection
        self._closed = False

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives (raw: transfer coding removed, content coding kept)."""
        while True:
            chunk = await self._connection.next_body_chunk()
            if chunk is None:
                return
            yield chunk

    async def read(self) -> bytes:
        """The whole body."""
        return b"".join([chunk async for chunk in self.chunks()])

    def close(self) -> None:
        """Give the connection back for reuse if the exchange finished cleanly, else drop it."""
        if not self._closed:
            self._closed = True
            self._connection.finish_exchange()


class UpstreamPool:
    """Pooled connections to any number of services."""

    def __init__(self, limits: PoolLimits) -> None:
        self._limits = limits
        self._pools: dict[Origin, _OriginPool] = {}
        self._tls: ssl.SSLContext | None = None

    async def send(
        self,
        origin: Origin,
        method: str,
        target: str,
        headers: RawHeaders,
        body: RequestBody,
    ) -> UpstreamResponse:
        """Send one request and return once the response head has arrived.

        Host is set from ``origin``; a streamed body without Content-Length is sent chunked.
        An idempotent request (RFC 9110 §9.2.2) whose reused connection the service closed
        before answering is retried once on a new connection, when its body can be replayed;
        anything else might already have taken effect, so it fails instead.
        """
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _OriginPool(origin, self._limits, self._tls_for(origin))
        head, chunked = _request_head(method, target, origin, headers, body)
        for attempt in (1, 2):
            connection = await pool.acquire()
            try:
                return await connection.exchange(
                    method, head, chunked, body, self._limits.read_timeout
                )
            except _StaleConnection:
                replayable = body is None or isinstance(body, bytes)
                if attempt == 2 or not replayable or method not in _IDEMPOTENT:
                    raise UpstreamBrokeOff("the service closed the connection") from None
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        """Close every idle connection; busy ones close when their exchange ends."""
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()

    def _tls_for(self, origin: Origin) -> ssl.SSLContext | None:
        if origin.scheme != "https":
            return None
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls


class _StaleConnection(Exception):
    """A reused connection died before any byte of the response: likely closed while idle."""


class _OriginPool:
    def __init__(self, origin: Origin, limits: PoolLimits, tls: ssl.SSLContext | None) -> None:
        self._origin = origin
        self._limits = limits
        self._tls = tls
        self._idle: list[_Connection] = []
        self._closed = False
        self._slots = asyncio.Semaphore(limits.max_connections_per_origin)

    async def acquire(self) -> _Connection:
        if self._slots.locked():
            try:
                async with asyncio.timeout(self._limits.pool_timeout):
                    await self._slots.acquire()
            except TimeoutError:
                raise UpstreamConnectFailed("no connection to the service became free") from None
        else:
            await self._slots.acquire()
        try:
            return await self._take_or_open()
        except BaseException:
            self._slots.release()
            raise

    async def _take_or_open(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable and now - connection.idle_since < self._limits.idle_seconds:
                connection.reused = True
                return connection
            connection.close()
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._limits.connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self),
                    self._origin.host,
                    self._origin.port,
                    ssl=self._tls,
                    server_hostname=self._origin.host if self._tls else None,
                )
        except (OSError, TimeoutError) as exc:
            raise UpstreamConnectFailed(f"cannot connect: {exc or 'timed out'}") from exc
        return connection

    def release(self, connection: _Connection) -> None:
        self._slots.release()
        if connection.reusable and not self._closed:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()

    def close(self) -> None:
        self._closed = True
        while self._idle:
            self._idle.pop().close()


class _Connection(asyncio.Protocol):
    """One connection to a service, carrying one exchange at a time."""

    def __init__(self, pool: _OriginPool) -> None:
        self._pool = pool
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self.idle_since = 0.0
        self.reused = False
        self._lost = False
        self._keep_alive = False
        # Per-exchange state.
        self._head_only = False
        self._got_bytes = False
        self._status = 0
        self._headers: RawHeaders = []
        self._head: asyncio.Future[None] | None = None
        self._body: deque[bytes] = deque()
        self._buffered = 0
        self._body_waiter: asyncio.Future[None] | None = None
        self._complete = False
        self._failure: UpstreamError | None = None
        self._read_timeout = 0.0
        self._reading_paused = False
        self._writing_paused = False
        self._drained: asyncio.Future[None] | None = None

    @property
    def reusable(self) -> bool:
        return not self._lost and self._keep_alive and self._complete and self._failure is None

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # The exchange, driven by the proxy.

    async def exchange(
        self, method: str, head: bytes, chunked: bool, body: RequestBody, read_timeout: float
    ) -> UpstreamResponse:
        self._reset(head_only=method == "HEAD", read_timeout=read_timeout)
        try:
            await self._write_request(head, chunked, body)
            if self._failure is not None:
                raise self._failure
            if not self._status:
                self._head = asyncio.get_running_loop().create_future()
                try:
                    async with asyncio.timeout(read_timeout):
                        await self._head
                finally:
                    self._head = None
        except UpstreamBrokeOff:
            self._pool.release(self)
            if self.reused and not self._got_bytes:
                # The service closed this idle connection just as it was reused.
                raise _StaleConnection from None
            raise
        except TimeoutError:
            self._fail(UpstreamTimeout("the service did not answer in time"))
            self._pool.release(self)
            raise UpstreamTimeout("the service did not answer in time") from None
        except BaseException:
            self._fail(UpstreamBrokeOff("the exchange was interrupted"))
            self._pool.release(self)
            raise
        return UpstreamResponse(self, self._status, self._headers)

    async def _write_request(self, head: bytes, chunked: bool, body: RequestBody) -> None:
        transport = self._transport
        assert transport is not None
        if self._lost:
            raise UpstreamBrokeOff("the service closed the connection")
        if body is None or isinstance(body, bytes):
            transport.write(head + body if body else head)
            return
        transport.write(head)
        async for chunk in body:
            if self._lost:
                raise UpstreamBrokeOff("the service closed the connection")
            if not chunk:
                continue
            transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk) if chunked else chunk)
            if self._writing_paused:
                await self._drain()
        if chunked:
            transport.write(b"0\r\n\r\n")

    async def _drain(self) -> None:
        # A service that stops reading the body is as stuck as one that stops answering.
        self._drained = asyncio.get_running_loop().create_future()
        async with asyncio.timeout(self._read_timeout):
            await self._drained

    async def next_body_chunk(self) -> bytes | None:
        """The next piece of the body, or None once it is complete."""
        while not self._body:
            if self._failure is not None:
                raise self._failure
            if self._complete:
                return None
            self._body_waiter = asyncio.get_running_loop().create_future()
            try:
                async with asyncio.timeout(self._read_timeout):
                    await self._body_waiter
            except TimeoutError:
                self._fail(UpstreamTimeout("the service stopped sending its answer"))
            finally:
                self._body_waiter = None
        chunk = self._body.popleft()
        self._buffered -= len(chunk)
        if self._reading_paused and self._buffered <= _READ_LOW_WATER and self._transport:
            self._reading_paused = False
            self._transport.resume_reading()
        return chunk

    def finish_exchange(self) -> None:
        if not self._complete and self._failure is None:
            # Abandoned mid-body: the rest would arrive as garbage before the next response.
            self._fail(UpstreamBrokeOff("the answer was abandoned"))
        self._pool.release(self)

    def _reset(self, *, head_only: bool, read_timeout: float) -> None:
        self._head_only = head_only
        self._read_timeout = read_timeout
        self._got_bytes = False
        self._status = 0
        self._headers = []
        self._body.clear()
        self._buffered = 0
        self._complete = False
        self._failure = None

    def _fail(self, failure: UpstreamError) -> None:
        if self._failure is None and not self._complete:
            self._failure = failure
        self._wake()
        self.close()

    def _wake(self) -> None:
        if self._head is not None and not self._head.done():
            if self._failure is not None:
                self._head.set_exception(self._failure)
            elif self._status:
                self._head.set_result(None)
        if self._body_waiter is not None and not self._body_waiter.done():
            self._body_waiter.set_result(None)

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._got_bytes = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._fail(UpstreamBrokeOff("the service sent an invalid response"))
        except httptools.HttpParserUpgrade:
            self._fail(UpstreamBrokeOff("the service switched protocols unexpectedly"))

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if self._status and not self._complete and _ends_at_close(self._headers):
            # A body without length or chunking ends when the connection does.
            self._complete = True
            self._keep_alive = False
            self._wake()
            return
        self._fail(UpstreamBrokeOff("the service closed the connection"))

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._status = 0
        self._headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:
            # An interim answer (103 Early Hints): the real one follows.
            self._headers = []
            return
        self._status = status
        self._keep_alive = self._parser.should_keep_alive()
        if self._head_only:
            # httptools cannot be told a HEAD answer has no body: finish here and never
            # reuse the connection, whose parser would otherwise wait for that body.
            self._complete = True
            self._keep_alive = False
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self._complete or not self._status:
            return
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > _READ_HIGH_WATER and not self._reading_paused and self._transport:
            self._reading_paused = True
            self._transport.pause_reading()
        if self._body_waiter is not None and not self._body_waiter.done():
            self._body_waiter.set_result(None)

    def on_message_complete(self) -> None:
        if not self._status:
            return
        self._complete = True
        self._wake()


def _ends_at_close(headers: RawHeaders) -> bool:
    names = {name for name, _ in headers}
    return b"content-length" not in names and b"transfer-encoding" not in names


def _request_head(
    method: str, target: str, origin: Origin, headers: RawHeaders, body: RequestBody
) -> tuple[bytes, bool]:
    """The serialized request line and headers, and whether the body goes chunked."""
    lines = [f"{method} {target} HTTP/1.1".encode("latin-1"), b"host: " + origin.authority]
    has_length = chunked = False
    for name, value in headers:
        if name == b"content-length":
            if isinstance(body, bytes) or body is None:
                continue
            has_length = True
        lines.append(name + b": " + value)
    if isinstance(body, bytes) and body:
        lines.append(b"content-length: %d" % len(body))
    elif body is not None and not isinstance(body, bytes) and not has_length:
        lines.append(b"transfer-encoding: chunked")
        chunked = True
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    # Values come from uvicorn's parser (which refuses bare CR/LF) or from the gateway itself;
    # checking once more keeps any header injection out for good.
    if head.count(b"\n") != len(lines) + 1 or head.count(b"\r") != len(lines) + 1:
        raise UpstreamBrokeOff("refusing to send a request head with stray line breaks")
    return head, chunked
