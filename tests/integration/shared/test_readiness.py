"""/readyz tells the truth about Kafka on a real broker: a blip within the grace period keeps
the service ready, an outage past it does not, and readiness comes back with the broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from devservers.kafka.launcher import KafkaCluster
from services.webhooks.app import create_app
from services.webhooks.settings import WebhooksSettings

pytestmark = pytest.mark.integration


def _client(tmp_path: Path, bootstrap: str, grace: float, name: str) -> httpx.AsyncClient:
    settings = WebhooksSettings(
        environment="test",
        database_url=f"sqlite+aiosqlite:///{tmp_path / name}.db",
        kafka_bootstrap=bootstrap,
        kafka_readiness_grace_seconds=grace,
    )
    # No lifespan: only the readiness checks run, the app's loops stay idle.
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(settings)), base_url="http://webhooks"
    )


async def _until_status(client: httpx.AsyncClient, status: int) -> dict[str, object]:
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        response = await client.get("/readyz")
        if response.status_code == status:
            body: dict[str, object] = response.json()
            return body
        assert asyncio.get_running_loop().time() < deadline, response.text
        await asyncio.sleep(0.2)


async def test_readyz_fails_after_the_grace_period_and_recovers_with_the_broker(tmp_path):
    with KafkaCluster(nodes=1) as cluster:
        short = _client(tmp_path, cluster.bootstrap_servers, 1.0, "short")
        patient = _client(tmp_path, cluster.bootstrap_servers, 3600.0, "patient")
        async with short, patient:
            ready = await _until_status(short, 200)
            assert ready["checks"] == {"database": "ok", "kafka": "ok"}
            assert (await patient.get("/readyz")).status_code == 200

            await asyncio.to_thread(cluster.stop_node, 0)
            down = await _until_status(short, 503)
            assert down["checks"]["kafka"].startswith("failing")  # type: ignore[index]
            assert down["checks"]["database"] == "ok"  # type: ignore[index]
            # The same outage, seen by a service whose grace has not run out: still ready.
            within_grace = await patient.get("/readyz")
            assert within_grace.status_code == 200, within_grace.text

            await asyncio.to_thread(cluster.start_node, 0)
            back = await _until_status(short, 200)
            assert back["checks"] == {"database": "ok", "kafka": "ok"}
    # /healthz is liveness only: it never asks Kafka.
    async with _client(tmp_path, "127.0.0.1:1", 0.0, "alive") as alone:
        assert (await alone.get("/healthz")).status_code == 200
        assert (await alone.get("/readyz")).status_code == 503
