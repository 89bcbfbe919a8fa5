"""The composed app: it starts without Kafka and reports its database as ready."""

from __future__ import annotations

from tests.unit.webhooks.conftest import StartService


async def test_the_service_serves_and_is_ready_without_kafka(start_service: StartService) -> None:
    webhooks = await start_service()

    health = await webhooks.http.get("/healthz")
    ready = await webhooks.http.get("/readyz")

    assert health.json() == {"status": "ok", "service": "webhooks"}
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert checks["database"] == "ok"
    # Kafka is unreachable, but within its grace period: ready, and saying so.
    assert checks["kafka"].startswith("degraded") or checks["kafka"] == "ok"
