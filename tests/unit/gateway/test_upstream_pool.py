"""The gateway's upstream connections, against scripted HTTP servers on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from gateway.upstream_pool import (
    Origin,
    PoolLimits,
    UpstreamBrokeOff,
    UpstreamConnectFailed,
    UpstreamPool,
    UpstreamTimeout,
)
from tests.unit.gateway.conftest import closed_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


class ScriptedServer:
    """Runs ``handler(reader, writer, connection_number)`` for each connection."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Origin:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return Origin("http", "127.0.0.1", port)

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self._handler(reader, writer, self.connections)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length) if length else b""
        self.requests.append(head + body)
        return head + body


def limits(**overrides: float) -> PoolLimits:
    values: dict[str, float] = {
        "connect_timeout": 1.0,
        "read_timeout": 1.0,
        "pool_timeout": 0.3,
        "max_connections_per_origin": 8,
        "idle_seconds": 4.0,
    }
    values.update(overrides)
    return PoolLimits(**values)  # type: ignore[arg-type]


async def _get(pool: UpstreamPool, origin: Origin, path: str = "/x") -> tuple[int, bytes]:
    response = await pool.send(origin, "GET", path, [], None)
    try:
        return response.status, await response.read()
    finally:
        response.close()


async def test_keep_alive_connections_are_reused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while True:
            await server.read_request(reader)
            writer.write(OK)
            await writer.drain()

    server = ScriptedServer(handler)
    pool = UpstreamPool(limits())
    async with server as origin:
        results = [await _get(pool, origin) for _ in range(5)]
        await pool.aclose()
    assert results == [(200, b"ok")] * 5
    assert server.connections == 1
    assert server.requests[0].startswith(b"GET /x HTTP/1.1\r\nhost: 127.0.0.1:")


async def test_a_connection_closed_under_a_reused_request_is_retried_once() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()
        # Keep-alive promised, then the next request on this connection is dropped unanswered.
        await server.read_request(reader)

    server = ScriptedServer(handler)
    pool = UpstreamPool(limits())
    async with server as origin:
        assert await _get(pool, origin) == (200, b"ok")
        assert await _get(pool, origin) == (200, b"ok")
        await pool.aclose()
    assert server.connections == 2
    assert len(server.requests) == 3


async def test_a_request_that_may_have_taken_effect_is_not_replayed() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()
        await server.read_request(reader)

    server = ScriptedServer(handler)
    pool = UpstreamPool(limits())
    async with server as origin:
        await _get(pool, origin)
        with pytest.raises(UpstreamBrokeOff):
            await pool.send(origin, "POST", "/x", [], b'{"progress": 7}')
        await pool.aclose()
    assert server.connections == 1


async def test_a_streamed_body_is_not_replayed() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await server.read_request(reader)
        writer.write(OK)
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")

    async def body() -> AsyncIterator[bytes]:
        yield b"once"

    server = ScriptedServer(handler)
    pool = UpstreamPool(limits())
    async with server as origin:
        await _get(pool, origin)
        with pytest.raises(UpstreamBrokeOff):
            await pool.send(origin, "PUT", "/x", [], body())
        await pool.aclose()


async def test_chunked_request_and_response_bodies() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"transfer-encoding: chunked" in head
        received = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            received += chunk[:-2]
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for part in (received, b"-", received.upper()):
            writer.write(b"%x\r\n%b\r\n" % (len(part), part))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    async def body() -> AsyncIterator[bytes]:
        yield b"abc"
        yield b""
        yield b"def"

    pool = UpstreamPool(limits())
    async with ScriptedServer(handler) as origin:
        response = await pool.send(origin, "POST", "/x", [], body())
        assert await response.read() == b"abcdef-ABCDEF"
        response.close()
        await pool.aclose()


async def test_a_body_that_ends_with_the_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end")
        await writer.drain()

    pool = UpstreamPool(limits())
    async with ScriptedServer(handler) as origin:
        assert await _get(pool, origin) == (200, b"until the end")
        await pool.aclose()


async def test_head_answers_have_no_body_and_do_not_poison_the_next_request() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        request = await server.read_request(reader)
        if request.startswith(b"HEAD"):
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n")
        else:
            writer.write(OK)
        await writer.drain()
        await reader.read()

    server = ScriptedServer(handler)
    pool = UpstreamPool(limits())
    async with server as origin:
        response = await pool.send(origin, "HEAD", "/x", [], None)
        assert response.status == 200
        assert dict(response.headers)[b"content-length"] == b"12"
        assert await response.read() == b""
        response.close()
        assert await _get(pool, origin) == (200, b"ok")
        await pool.aclose()
    assert server.connections == 2


async def test_interim_answers_are_skipped() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 103 Early Hints\r\nlink: </a>; rel=preload\r\n\r\n")
        writer.write(b"HTTP/1.1 201 Created\r\nx-final: yes\r\ncontent-length: 4\r\n\r\ndone")
        await writer.drain()
        await reader.read()

    pool = UpstreamPool(limits())
    async with ScriptedServer(handler) as origin:
        response = await pool.send(origin, "GET", "/x", [], None)
        assert response.status == 201
        assert response.headers == [(b"x-final", b"yes"), (b"content-length", b"4")]
        assert await response.read() == b"done"
        response.close()
        await pool.aclose()


async def test_garbage_is_a_broken_exchange() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        await writer.drain()
        await reader.read()

    pool = UpstreamPool(limits())
    async with ScriptedServer(handler) as origin:
        with pytest.raises(UpstreamBrokeOff):
            await _get(pool, origin)
        await pool.aclose()


async def test_nothing_listening_is_a_failed_connect() -> None:
    pool = UpstreamPool(limits())
    with pytest.raises(UpstreamConnectFailed):
        await _get(pool, Origin("http", "127.0.0.1", closed_port()))


async def test_silence_is_a_timeout_then_the_connection_is_dropped() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        if n == 1:
            await asyncio.sleep(5)
        writer.write(OK)
        await writer.drain()
        await reader.read()

    server = ScriptedServer(handler)
    pool = UpstreamPool(limits(read_timeout=0.2))
    async with server as origin:
        with pytest.raises(UpstreamTimeout):
            await _get(pool, origin)
        assert await _get(pool, origin) == (200, b"ok")
        await pool.aclose()
    assert server.connections == 2


async def test_a_body_that_stalls_is_a_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf")
        await writer.drain()
        await asyncio.sleep(5)

    pool = UpstreamPool(limits(read_timeout=0.2))
    async with ScriptedServer(handler) as origin:
        response = await pool.send(origin, "GET", "/x", [], None)
        with pytest.raises(UpstreamTimeout):
            await response.read()
        response.close()
        await pool.aclose()


async def test_no_free_connection_in_time_is_a_failed_connect() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf")
        await writer.drain()
        await reader.read()

    pool = UpstreamPool(limits(max_connections_per_origin=1, pool_timeout=0.2))
    async with ScriptedServer(handler) as origin:
        held = await pool.send(origin, "GET", "/x", [], None)
        with pytest.raises(UpstreamConnectFailed, match="free"):
            await pool.send(origin, "GET", "/y", [], None)
        held.close()
        await pool.aclose()


async def test_an_abandoned_answer_closes_its_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await server.read_request(reader)
        if n == 1:
            # Were this connection reused, the rest of this body would precede the next answer.
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf")
            await writer.drain()
            await reader.read()
            return
        writer.write(OK)
        await writer.drain()

    server = ScriptedServer(handler)
    pool = UpstreamPool(limits())
    async with server as origin:
        (await pool.send(origin, "GET", "/x", [], None)).close()
        assert await _get(pool, origin) == (200, b"ok")
        await pool.aclose()
    assert server.connections == 2


async def test_line_breaks_in_headers_are_refused() -> None:
    pool = UpstreamPool(limits())
    with pytest.raises(UpstreamBrokeOff, match="line breaks"):
        await pool.send(
            Origin("http", "127.0.0.1", closed_port()),
            "GET",
            "/x",
            [(b"x-a", b"1\r\nx-b: 2")],
            None,
        )


def test_origin_parsing() -> None:
    assert Origin.parse("http://records:8002/base") == Origin("http", "records", 8002)
    assert Origin.parse("https://records") == Origin("https", "records", 443)
    assert Origin("http", "::1", 8002).authority == b"[::1]:8002"
    assert Origin("http", "records", 80).authority == b"records"
    with pytest.raises(ValueError):
        Origin.parse("ftp://records")


async def test_a_service_that_stops_reading_the_body_is_a_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(5)

    async def endless() -> AsyncIterator[bytes]:
        piece = b"x" * 65536
        while True:
            yield piece

    pool = UpstreamPool(limits(read_timeout=0.3))
    async with ScriptedServer(handler) as origin:
        with pytest.raises(UpstreamTimeout):
            await pool.send(origin, "POST", "/x", [], endless())
        await pool.aclose()
