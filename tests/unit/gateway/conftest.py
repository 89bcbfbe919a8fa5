"""Real servers for the gateway's tests: small upstreams and gateways, all on loopback.

The upstreams stand in for the services (network peers, not the code under test): an HTTP app
that echoes what reached it, and a WebSocket server that behaves like signaling. Gateways are
served by uvicorn on free ports, so proxying and the WebSocket relay run for real.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as HandshakeRequest
from websockets.http11 import Response as HandshakeResponse

from gateway.__main__ import GatewayServer
from gateway.app import create_app
from gateway.settings import GatewaySettings
from tests.support.served_app import ServedApp
from tests.support.tokens import TestTokenIssuer

with warnings.catch_warnings():
    # uvicorn deprecates ws="websockets" (the contract's choice); importing it once here keeps
    # the warning out of every test that starts a gateway.
    warnings.simplefilter("ignore")
    import uvicorn.protocols.websockets.websockets_impl  # noqa: F401

SUBPROTOCOL = "rapport.signal.v1"
STREAM_CHUNK = b"0123456789abcdef" * 4096  # 64 KiB
STREAM_CHUNKS = 16


@dataclass
class EchoUpstream:
    """Stands in for identity, records and webhooks: answers with what it received."""

    served: ServedApp
    seen: list[dict[str, Any]] = field(default_factory=list)
    # Paths of the requests taken by /v1/goals/slow, which never answers.
    unanswered: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.served.url

    def requests_to(self, path: str) -> list[dict[str, Any]]:
        return [r for r in self.seen if r["path"] == path]


def echo_app(seen: list[dict[str, Any]], unanswered: list[str]) -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/goals/slow")
    async def slow(request: Request) -> dict[str, str]:
        unanswered.append(request.url.path)
        await asyncio.get_running_loop().create_future()  # until the server shuts down
        raise AssertionError("unreachable")

    @app.get("/v1/sessions/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(STREAM_CHUNKS):
                yield STREAM_CHUNK
                await asyncio.sleep(0)

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    @app.post("/v1/appointments/upload")
    async def upload(request: Request) -> dict[str, Any]:
        digest = hashlib.sha256()
        length = 0
        async for chunk in request.stream():
            digest.update(chunk)
            length += len(chunk)
        return {"length": length, "sha256": digest.hexdigest()}

    @app.api_route("/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
    async def echo(request: Request) -> Response:
        body = await request.body()
        seen.append(
            {
                "method": request.method,
                "path": request.url.path,
                "raw_path": request.scope["raw_path"].decode(),
                "query": request.url.query,
                "headers": [[k.decode(), v.decode()] for k, v in request.headers.raw],
            }
        )
        status = 201 if request.url.path.endswith("/created") else 200
        return JSONResponse(
            {"method": request.method, "path": request.url.path, "body": body.decode()},
            status_code=status,
            headers={
                "x-upstream": "echo",
                "set-cookie": "flavour=oat; HttpOnly",
                "connection": "x-hop-by-hop",
                "x-hop-by-hop": "must not pass",
                "keep-alive": "timeout=5",
                "x-frame-options": "SAMEORIGIN",
            },
        )

    return app


@dataclass
class SignalingUpstream:
    """Stands in for signaling: greets, echoes, and closes with 4008 when asked to."""

    port: int
    handshakes: list[Headers] = field(default_factory=list)
    closes: asyncio.Queue[tuple[int | None, str | None]] = field(default_factory=asyncio.Queue)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Gateway:
    served: ServedApp

    @property
    def url(self) -> str:
        return self.served.url

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.served.port}"


def closed_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gateway_settings(**overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "environment": "test",
        "log_level": "WARNING",
        "upstream_connect_timeout": 1.0,
        "upstream_read_timeout": 1.0,
        "upstream_pool_timeout": 1.0,
        "readiness_timeout": 1.0,
        # Never reached: tokens are checked with the test issuer's keys.
        "jwks_url": f"http://127.0.0.1:{closed_port()}/.well-known/jwks.json",
        # No broker in unit tests; revocations are applied by hand (test_revocations.py).
        "revocations_enabled": False,
        # Nor owners of signaling rooms: the static signaling list routes.
        "signaling_owners": False,
    }
    values.update(overrides)
    return GatewaySettings(**values)


async def serve_gateway(settings: GatewaySettings, issuer: TestTokenIssuer) -> ServedApp:
    app = create_app(settings, key_source=issuer.key_source)
    handshakes = app.state.websocket_handshakes
    return await ServedApp(
        app,
        # As python -m gateway serves it: held handshakes are refused before shutting down.
        server=lambda config: GatewayServer(config, handshakes),
        lifespan="on",
        ws="websockets",
        ws_per_message_deflate=False,
        server_header=False,
        # Tests connect from 127.0.0.1; with proxy headers off, a client-sent X-Forwarded-For
        # is just an untrusted header the gateway must replace.
        proxy_headers=False,
    ).start()


@asynccontextmanager
async def asgi_gateway(
    settings: GatewaySettings,
    issuer: TestTokenIssuer,
    *,
    client: tuple[str, int] = ("203.0.113.7", 50000),
    base_url: str = "http://gateway",
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The gateway app, started, with an HTTP client calling it in-process from ``client``.

    ``base_url``'s scheme is the scheme the gateway sees (https: as if served over TLS).
    """
    app = create_app(settings, key_source=issuer.key_source)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as http:
            yield app, http


@pytest.fixture(scope="session")
def token_issuer() -> TestTokenIssuer:
    return TestTokenIssuer()


@pytest.fixture(scope="session")
async def echo_upstream() -> AsyncIterator[EchoUpstream]:
    seen: list[dict[str, Any]] = []
    unanswered: list[str] = []
    served = await ServedApp(echo_app(seen, unanswered), lifespan="off").start()
    yield EchoUpstream(served, seen, unanswered)
    await served.stop()


@pytest.fixture(scope="session")
async def signaling_upstream() -> AsyncIterator[SignalingUpstream]:
    upstream = SignalingUpstream(port=0)

    async def handler(connection: ServerConnection) -> None:
        upstream.handshakes.append(connection.request.headers if connection.request else Headers())
        try:
            await connection.send("welcome")
            async for message in connection:
                if message == "close-me":
                    await connection.close(4008, "too fast")
                    break
                await connection.send("echo:" + message if isinstance(message, str) else message)
        except ConnectionClosed:
            pass
        finally:
            await connection.wait_closed()
            await upstream.closes.put((connection.close_code, connection.close_reason))

    def refuse_some(
        connection: ServerConnection, request: HandshakeRequest
    ) -> HandshakeResponse | None:
        if request.path == "/healthz":
            return connection.respond(HTTPStatus.OK, '{"status": "ok"}')
        if request.path.startswith("/v1/signal/refused"):
            return connection.respond(HTTPStatus.FORBIDDEN, "not your session\n")
        return None

    server: Server = await serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=[SUBPROTOCOL],
        compression=None,
        process_request=refuse_some,
    )
    upstream.port = server.sockets[0].getsockname()[1] if server.sockets else 0
    yield upstream
    server.close()
    await server.wait_closed()


@pytest.fixture(scope="session")
async def gateway(
    token_issuer: TestTokenIssuer,
    echo_upstream: EchoUpstream,
    signaling_upstream: SignalingUpstream,
) -> AsyncIterator[Gateway]:
    settings = gateway_settings(
        identity_url=echo_upstream.url,
        records_url=echo_upstream.url,
        webhooks_url=echo_upstream.url,
        notifications_url=echo_upstream.url,
        signaling_urls=[signaling_upstream.url],
    )
    served = await serve_gateway(settings, token_issuer)
    yield Gateway(served)
    await served.stop()


@pytest.fixture(scope="session")
async def gateway_without_upstreams(token_issuer: TestTokenIssuer) -> AsyncIterator[Gateway]:
    nowhere = f"http://127.0.0.1:{closed_port()}"
    settings = gateway_settings(
        identity_url=nowhere, records_url=nowhere, webhooks_url=nowhere, signaling_urls=[nowhere]
    )
    served = await serve_gateway(settings, token_issuer)
    yield Gateway(served)
    await served.stop()


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=10.0) as http:
        yield http


@pytest.fixture
def bearer(token_issuer: TestTokenIssuer) -> dict[str, str]:
    token = token_issuer.issue("3f1c0e7e-1111-4222-8333-944455556666", "clinician")
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings tests see only the variables they set."""
    import os

    for name in list(os.environ):
        if name.startswith("RAPPORT_"):
            monkeypatch.delenv(name)
    yield
