"""A recovered endpoint's backlog is brought forward on its first success, not left on the
retry schedule; an attempt still in flight is never sent twice for it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import select

from services.webhooks import service
from services.webhooks.models import Delivery, WebhookEndpoint
from shared.db import Database, utc_now
from tests.unit.webhooks import factories
from tests.unit.webhooks.conftest import (
    Receiver,
    StartService,
    add_catch_all_endpoint,
    envelope_of,
    eventually,
)
from tests.unit.webhooks.test_dispatcher import delivery_log, publish
from tests.unit.webhooks.test_service import BOX

HOUR = 3600.0


async def test_the_first_success_after_an_outage_sends_the_whole_backlog_at_once(
    start_service: StartService, receiver: Receiver
) -> None:
    # After two failures a message waits an hour: without the catch-up, the backlog below
    # would still be waiting when the test gives up.
    webhooks = await start_service(retry_schedule_seconds=[0.05, HOUR])
    endpoint = await webhooks.register(receiver.url("flaky"), ["*"])
    receiver.statuses["flaky"] = [503] * 6
    receiver.headers["flaky"] = {"retry-after": "1"}
    for _ in range(3):
        await publish(webhooks, factories.session_completed())

    async def waiting_an_hour() -> bool:
        log = await delivery_log(webhooks, endpoint["id"])
        return len(log) == 3 and all(d["attempt_count"] == 2 for d in log)

    await eventually(waiting_an_hour)
    assert receiver.statuses["flaky"] == []  # the endpoint has recovered: it answers 200 now

    # A new message succeeds at once: the endpoint is back, and its backlog follows it.
    await publish(webhooks, factories.session_completed())

    async def all_delivered() -> bool:
        log = await delivery_log(webhooks, endpoint["id"])
        return len(log) == 4 and all(d["status"] == "delivered" for d in log)

    await eventually(all_delivered)
    log = await delivery_log(webhooks, endpoint["id"])
    assert sorted(d["attempt_count"] for d in log) == [1, 3, 3, 3]
    assert len(receiver.requests_to("flaky")) == 6 + 4


async def test_the_backlog_comes_due_oldest_first_and_an_attempt_in_flight_stays_leased(
    database_url: str,
) -> None:
    database = Database(database_url)
    lease = timedelta(seconds=45)
    policy = service.RetryPolicy([HOUR, HOUR])
    try:
        async with database.unit_of_work() as session:
            await add_catch_all_endpoint(session)
            queued = []
            for _ in range(4):
                envelope = envelope_of(factories.session_completed())
                queued += await service.enqueue_deliveries(
                    session, envelope.payload, event_id=envelope.id, occurred_at=envelope.time
                )
        now = utc_now()
        async with database.unit_of_work() as session:
            claimed = await service.claim_due_deliveries(
                session, now=now, limit=4, lease=lease, box=BOX
            )
        # Three fail (an hour to wait each), one is still in flight, one then succeeds.
        failed, in_flight, succeeding = claimed[:2], claimed[2], claimed[3]
        for due in failed:
            async with database.unit_of_work() as session:
                await service.record_attempt(
                    session,
                    due.delivery_id,
                    service.AttemptOutcome(now, duration_ms=5, status_code=503),
                    policy=policy,
                )
        async with database.unit_of_work() as session:
            await service.record_attempt(
                session,
                succeeding.delivery_id,
                service.AttemptOutcome(now, duration_ms=5, status_code=200),
                policy=policy,
            )
        async with database.unit_of_work() as session:
            rows: dict[str, Any] = {d.id: d for d in (await session.exec(select(Delivery))).all()}
            endpoint = (await session.exec(select(WebhookEndpoint))).one()
    finally:
        await database.dispose()

    # The failed ones are due again at once, at their creation times (so oldest first).
    for due in failed:
        row = rows[due.delivery_id]
        assert row.status == "pending"
        assert row.next_attempt_at == row.created_at
    # The one in flight keeps its lease: bringing it forward would send it a second time.
    assert rows[in_flight.delivery_id].next_attempt_at == now + lease
    assert rows[in_flight.delivery_id].leased_until == now + lease
    assert rows[succeeding.delivery_id].status == "delivered"
    assert endpoint.failing_since is None
    assert [d.delivery_id for d in claimed] == [d.id for d in queued]
