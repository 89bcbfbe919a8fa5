"""A client's WebSocket handshake held while the gateway connects to signaling always gets an
answer it can act on (503 with Retry-After), never uvicorn's 500 or a dropped connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import InvalidStatus
from websockets.http11 import Request as HandshakeRequest

from tests.support.tokens import TestTokenIssuer
from tests.unit.gateway.conftest import closed_port, gateway_settings, serve_gateway


class StalledSignaling:
    """Stands in for a signaling process that takes the TCP connection but does not answer
    the WebSocket handshake (a starved or dying process)."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.release = asyncio.Event()
        self.url = ""

    async def hold(self, _: ServerConnection, __: HandshakeRequest) -> None:
        self.reached.set()
        await self.release.wait()


@pytest.fixture
async def stalled_signaling() -> AsyncIterator[StalledSignaling]:
    stalled = StalledSignaling()

    async def handler(connection: ServerConnection) -> None:
        await connection.wait_closed()

    server: Server = await serve(handler, "127.0.0.1", 0, process_request=stalled.hold)
    stalled.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    yield stalled
    stalled.release.set()
    server.close()
    await server.wait_closed()


def _settings(signaling_url: str, **overrides: float) -> dict[str, object]:
    nowhere = f"http://127.0.0.1:{closed_port()}"
    return {
        "identity_url": nowhere,
        "records_url": nowhere,
        "webhooks_url": nowhere,
        "notifications_url": nowhere,
        "signaling_urls": [signaling_url],
        # Only the handshake budget bounds the wait for signaling here.
        "upstream_connect_timeout": 60.0,
        **overrides,
    }


async def test_signaling_too_slow_to_answer_gets_503_with_retry_after(
    stalled_signaling: StalledSignaling, token_issuer: TestTokenIssuer
) -> None:
    settings = gateway_settings(
        **_settings(
            stalled_signaling.url, websocket_handshake_seconds=0.5, signaling_owner_wait_seconds=0.5
        )
    )
    served = await serve_gateway(settings, token_issuer)
    try:
        with pytest.raises(InvalidStatus) as refused:
            # Longer than uvicorn's own 10 s limit, which would drop the handshake unanswered.
            await connect(f"ws://127.0.0.1:{served.port}/v1/signal", open_timeout=30)
    finally:
        await served.stop()
    response = refused.value.response
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert b'"error":"UpstreamUnavailable"' in (response.body or b"")


async def test_a_gateway_shutting_down_refuses_held_handshakes_with_503(
    stalled_signaling: StalledSignaling, token_issuer: TestTokenIssuer
) -> None:
    served = await serve_gateway(gateway_settings(**_settings(stalled_signaling.url)), token_issuer)

    async def open_socket() -> None:
        await connect(f"ws://127.0.0.1:{served.port}/v1/signal", open_timeout=30)

    handshake = asyncio.create_task(open_socket())
    try:
        await asyncio.wait_for(stalled_signaling.reached.wait(), timeout=10)
    finally:
        await served.stop()
    with pytest.raises(InvalidStatus) as refused:
        await asyncio.wait_for(handshake, timeout=10)
    response = refused.value.response
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert b'"error":"GatewayShuttingDown"' in (response.body or b"")
