"""The WebSocket relay to signaling, through a real gateway and a real WebSocket server."""

from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import CloseCode

from gateway.websocket_proxy import close_code_for_client
from tests.unit.gateway.conftest import SUBPROTOCOL, Gateway, SignalingUpstream


async def _next_close(signaling: SignalingUpstream) -> tuple[int | None, str | None]:
    return await asyncio.wait_for(signaling.closes.get(), timeout=5)


@pytest.mark.parametrize(
    ("upstream", "client"),
    [
        (4008, 4008),
        (1000, 1000),
        (1001, 1001),
        (1011, 1011),
        (CloseCode.NO_STATUS_RCVD, 1000),
        (CloseCode.ABNORMAL_CLOSURE, CloseCode.BAD_GATEWAY),
    ],
)
def test_close_codes_that_cannot_be_sent_are_translated(upstream: int, client: int) -> None:
    assert close_code_for_client(upstream) == client


async def test_frames_relay_both_ways_and_the_upstream_close_code_reaches_the_client(
    gateway: Gateway, signaling_upstream: SignalingUpstream
) -> None:
    async with connect(
        f"{gateway.ws_url}/v1/signal",
        subprotocols=[SUBPROTOCOL],
        compression=None,
        open_timeout=5,
    ) as ws:
        assert ws.subprotocol == SUBPROTOCOL
        assert await ws.recv() == "welcome"
        await ws.send('{"type": "ping"}')
        assert await ws.recv() == 'echo:{"type": "ping"}'
        await ws.send(b"\x00\x01binary")
        assert await ws.recv() == b"\x00\x01binary"
        await ws.send("close-me")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), timeout=5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4008
    assert closed.value.rcvd.reason == "too fast"
    assert await _next_close(signaling_upstream) == (4008, "too fast")


async def test_the_client_close_code_reaches_signaling(
    gateway: Gateway, signaling_upstream: SignalingUpstream
) -> None:
    ws = await connect(
        f"{gateway.ws_url}/v1/signal",
        subprotocols=[SUBPROTOCOL],
        compression=None,
    )
    assert await ws.recv() == "welcome"
    await ws.close(4000, "leaving the waiting room")
    assert await _next_close(signaling_upstream) == (4000, "leaving the waiting room")


async def test_a_client_that_vanishes_is_seen_as_abnormal_by_signaling(
    gateway: Gateway, signaling_upstream: SignalingUpstream
) -> None:
    ws = await connect(
        f"{gateway.ws_url}/v1/signal",
        subprotocols=[SUBPROTOCOL],
        compression=None,
    )
    assert await ws.recv() == "welcome"
    ws.transport.abort()
    code, _ = await _next_close(signaling_upstream)
    assert code == CloseCode.ABNORMAL_CLOSURE


async def test_handshake_headers_and_no_compression_reach_signaling(
    gateway: Gateway, signaling_upstream: SignalingUpstream
) -> None:
    before = len(signaling_upstream.handshakes)
    async with connect(
        f"{gateway.ws_url}/v1/signal?resume=1",
        subprotocols=[SUBPROTOCOL],
        additional_headers={"X-Forwarded-For": "198.51.100.9", "X-Request-ID": "ws-trace-1"},
    ) as ws:
        assert await ws.recv() == "welcome"
        # The client offered compression; neither hop negotiated it.
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
    await _next_close(signaling_upstream)
    headers = signaling_upstream.handshakes[before]
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert headers["X-Request-ID"] == "ws-trace-1"
    assert headers["Sec-WebSocket-Protocol"] == SUBPROTOCOL
    assert "Sec-WebSocket-Extensions" not in headers


async def test_a_refusal_by_signaling_is_passed_on(gateway: Gateway) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{gateway.ws_url}/v1/signal/refused", open_timeout=5)
    assert refused.value.response.status_code == 403
    assert refused.value.response.body == b"not your session\n"


async def test_no_websocket_endpoint_elsewhere(gateway: Gateway) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{gateway.ws_url}/v1/goals", open_timeout=5)
    assert refused.value.response.status_code == 404
    assert b'"error":"NotFound"' in (refused.value.response.body or b"")
    assert refused.value.response.headers["X-Content-Type-Options"] == "nosniff"


async def test_signaling_down_refuses_the_upgrade_with_503(
    gateway_without_upstreams: Gateway,
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        await connect(f"{gateway_without_upstreams.ws_url}/v1/signal", open_timeout=5)
    assert refused.value.response.status_code == 503
    assert b'"error":"UpstreamUnavailable"' in (refused.value.response.body or b"")
