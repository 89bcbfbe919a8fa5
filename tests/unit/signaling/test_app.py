"""The composition root: the app serves without Kafka, and is served as documented."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from services.signaling.app import create_app, server_config
from services.signaling.lean_websocket import LeanWebSocketProtocol
from shared.migrations import upgrade
from tests.support.tokens import TestTokenIssuer
from tests.unit.signaling.conftest import MIGRATIONS, settings_for


async def test_health_and_readiness_without_kafka(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    await asyncio.to_thread(upgrade, MIGRATIONS, settings.database_url)
    app = create_app(settings, key_source=TestTokenIssuer().key_source)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://signaling") as http,
    ):
        health = await http.get("/healthz")
        ready = await http.get("/readyz")
        metrics = await http.get("/metrics")
    assert health.json() == {"status": "ok", "service": "signaling"}
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["database"] == "ok"
    # Kafka is unreachable, but within its grace period: ready, and saying so.
    assert checks["kafka"].startswith("degraded") or checks["kafka"] == "ok"
    assert metrics.status_code == 200


def test_served_with_websockets_and_no_compression(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, port=8003)
    config = server_config(create_app(settings), settings)
    # The sans-I/O implementation (about 7 KiB less per idle socket than the legacy one),
    # trimmed further by signaling (bench/bench_signaling_idle.py).
    assert isinstance(config.ws, type) and issubclass(config.ws, WebSocketsSansIOProtocol)
    assert config.ws is LeanWebSocketProtocol
    assert (config.ws_ping_interval, config.ws_ping_timeout) == (20.0, 20.0)
    assert config.ws_per_message_deflate is False
    assert config.loop == "uvloop"
    assert (config.host, config.port) == ("127.0.0.1", 8003)
    # Above the protocol's limit, so oversized messages reach the app and get 4413.
    assert config.ws_max_size > settings.max_message_bytes
