"""Delivery state in the database: leases on claimed deliveries and the retry schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.webhooks import service
from services.webhooks.models import Delivery
from services.webhooks.settings import DEVELOPMENT_SECRETS_KEY
from shared.db import Database, utc_now
from shared.secret_box import SecretBox
from tests.unit.webhooks import factories
from tests.unit.webhooks.conftest import add_catch_all_endpoint, envelope_of

BOX = SecretBox(DEVELOPMENT_SECRETS_KEY)


async def queue_one(session: AsyncSession) -> Delivery:
    await add_catch_all_endpoint(session)
    envelope = envelope_of(factories.session_completed())
    (delivery,) = await service.enqueue_deliveries(
        session, envelope.payload, event_id=envelope.id, occurred_at=envelope.time
    )
    return delivery


async def test_a_claimed_delivery_is_leased_until_its_attempt_can_no_longer_be_running(
    database_url: str,
) -> None:
    database = Database(database_url)
    lease = timedelta(seconds=45)
    try:
        async with database.unit_of_work() as session:
            delivery = await queue_one(session)
        now = utc_now()
        async with database.unit_of_work() as session:
            first = await service.claim_due_deliveries(
                session, now=now, limit=10, lease=lease, box=BOX
            )
        async with database.unit_of_work() as session:
            again = await service.claim_due_deliveries(
                session, now=now, limit=10, lease=lease, box=BOX
            )
        async with database.unit_of_work() as session:
            after_lease = await service.claim_due_deliveries(
                session, now=now + lease + timedelta(seconds=1), limit=10, lease=lease, box=BOX
            )
    finally:
        await database.dispose()

    assert [d.delivery_id for d in first] == [delivery.id]
    assert first[0].attempt_number == 1
    assert again == []
    assert [d.delivery_id for d in after_lease] == [delivery.id]


async def test_failures_follow_the_retry_schedule_then_fail(database_url: str) -> None:
    database = Database(database_url)
    schedule = [10.0, 60.0]
    attempted_at = datetime(2025, 1, 1, tzinfo=UTC)
    due_times = []
    try:
        async with database.unit_of_work() as session:
            delivery = await queue_one(session)
        for _ in range(3):
            async with database.unit_of_work() as session:
                due_times.append(
                    await service.record_attempt(
                        session,
                        delivery.id,
                        service.AttemptOutcome(attempted_at, duration_ms=500, status_code=502),
                        policy=service.RetryPolicy(schedule),
                    )
                )
        async with database.unit_of_work() as session:
            stored = await session.get(Delivery, delivery.id)
    finally:
        await database.dispose()

    finished = attempted_at + timedelta(milliseconds=500)
    assert due_times == [finished + timedelta(seconds=10), finished + timedelta(seconds=60), None]
    assert stored is not None
    assert (stored.status, stored.attempt_count, stored.next_attempt_at) == ("failed", 3, None)


def test_only_2xx_answers_count_as_delivered() -> None:
    at = utc_now()

    assert service.AttemptOutcome(at, 1, status_code=200).succeeded
    assert service.AttemptOutcome(at, 1, status_code=204).succeeded
    assert not service.AttemptOutcome(at, 1, status_code=301).succeeded
    assert not service.AttemptOutcome(at, 1, status_code=410).succeeded
    assert not service.AttemptOutcome(at, 1, error="ConnectError").succeeded


async def test_an_endpoint_gets_only_events_that_occurred_after_it_was_registered(
    database_url: str,
) -> None:
    """Reading the topics again from their start (a new consumer group) must not send a new
    endpoint the history it never subscribed to."""
    database = Database(database_url)
    earlier = envelope_of(factories.session_completed())
    try:
        async with database.unit_of_work() as session:
            await add_catch_all_endpoint(session)
            later = envelope_of(factories.session_completed())
            replayed = await service.enqueue_deliveries(
                session, earlier.payload, event_id=earlier.id, occurred_at=earlier.time
            )
            fresh = await service.enqueue_deliveries(
                session, later.payload, event_id=later.id, occurred_at=later.time
            )
    finally:
        await database.dispose()

    assert replayed == []
    assert [d.event_id for d in fresh] == [later.id]
