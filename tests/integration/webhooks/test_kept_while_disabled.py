"""An endpoint disabled while appointments are booked misses none of them.

The webhooks service runs as its own process on a real PostgreSQL and a real Kafka broker.
The endpoint is disabled, appointments are booked (``appointment.scheduled`` published as
records publishes it), nothing reaches the partner; the endpoint is enabled and every one of
them arrives.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from shared.events.envelope import encode
from shared.events.kafka import EventPublisher
from tests.integration.webhooks.test_outage import (  # noqa: F401 - fixtures
    Partner,
    WebhooksProcess,
    issuer,
    partner,
    until,
    webhooks,
)
from tests.support.tokens import TestTokenIssuer
from tests.unit.webhooks import factories

pytestmark = pytest.mark.integration

BOOKED = 25


async def test_appointments_booked_while_disabled_all_arrive_once_enabled(
    webhooks: WebhooksProcess,  # noqa: F811 - the fixture imported above
    partner: Partner,  # noqa: F811
    issuer: TestTokenIssuer,  # noqa: F811
    kafka_bootstrap: str,
) -> None:
    await webhooks.start()
    auth = {"Authorization": f"Bearer {issuer.issue(uuid.uuid4(), 'admin')}"}
    async with httpx.AsyncClient(base_url=webhooks.url, headers=auth) as http:
        created = await http.post(
            "/v1/webhook-endpoints",
            json={"url": partner.hook_url, "event_types": ["appointment.scheduled"]},
        )
        assert created.status_code == 201, created.text
        path = f"/v1/webhook-endpoints/{created.json()['id']}"
        assert (await http.post(f"{path}/disable")).json()["enabled"] is False

        booked = set()
        publisher = EventPublisher(kafka_bootstrap, client_id="records-stand-in")
        try:
            for _ in range(BOOKED):
                payload = factories.appointment_scheduled()
                record = encode(payload, source="/rapport/records")
                await publisher.publish(payload.topic, record.key, record.value, record.headers)
                booked.add(str(payload.appointment_id))
        finally:
            await publisher.close()

        async def kept() -> list[dict[str, Any]]:
            response = await http.get(
                f"{path}/deliveries", params={"status": "pending", "limit": 200}
            )
            assert response.status_code == 200, response.text
            log: list[dict[str, Any]] = response.json()
            return log

        async def all_kept() -> bool:
            return len(await kept()) == BOOKED

        await until(
            all_kept,
            within=60,
            what="every booking is kept for the disabled endpoint",
            service=webhooks,
        )
        await asyncio.sleep(0.5)  # room for a (wrong) attempt to show up
        assert partner.received == []
        assert all(d["next_attempt_at"] is None and d["attempts"] == [] for d in await kept())

        assert (await http.post(f"{path}/enable")).json()["enabled"] is True

        def arrived() -> set[str]:
            return {body["data"]["appointment_id"] for _, body in partner.received}

        async def all_arrived() -> bool:
            return arrived() == booked

        await until(
            all_arrived, within=60, what="every kept booking arrives once enabled", service=webhooks
        )

    assert len({webhook_id for webhook_id, _ in partner.received}) == BOOKED
    assert all(body["sequence"] == 1 for _, body in partner.received)
