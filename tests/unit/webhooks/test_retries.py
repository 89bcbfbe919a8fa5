"""The retry policy: schedule with jitter, Retry-After, 410 Gone, and giving up after 5 days."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from sqlmodel import select

from services.webhooks import service
from services.webhooks.dispatcher import parse_retry_after
from services.webhooks.models import Delivery, WebhookEndpoint
from services.webhooks.settings import DEFAULT_RETRY_SCHEDULE_SECONDS
from shared.db import Database
from shared.events.outbox import OutboxMessage
from tests.unit.webhooks import factories
from tests.unit.webhooks.conftest import envelope_of
from tests.unit.webhooks.test_service import queue_one

HOUR = 3600.0
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def test_the_default_schedule_is_the_one_partners_are_promised() -> None:
    assert DEFAULT_RETRY_SCHEDULE_SECONDS == [
        5,
        5 * 60,
        30 * 60,
        2 * HOUR,
        5 * HOUR,
        10 * HOUR,
        14 * HOUR,
        20 * HOUR,
        24 * HOUR,
    ]


def test_jitter_spreads_retries_within_its_bounds() -> None:
    rng = random.Random(7)
    due = {service.next_attempt_at(T0, 2, [5, 300], jitter=0.1, rng=rng) for _ in range(50)}

    assert len(due) > 40  # spread out, not one instant
    assert all(T0 + timedelta(seconds=270) <= d <= T0 + timedelta(seconds=330) for d in due)


def test_retry_after_longer_than_the_schedule_wins_and_is_capped() -> None:
    schedule = [5.0, 300.0]

    assert service.next_attempt_at(T0, 1, schedule, retry_after_seconds=120) == T0 + timedelta(
        seconds=120
    )
    # A shorter Retry-After does not bring the scheduled retry forward.
    assert service.next_attempt_at(T0, 2, schedule, retry_after_seconds=1) == T0 + timedelta(
        seconds=300
    )
    assert service.next_attempt_at(
        T0, 1, schedule, retry_after_seconds=10**9, max_retry_after_seconds=HOUR
    ) == T0 + timedelta(hours=1)


async def _fail(
    database: Database, delivery_id: str, at: datetime, policy: service.RetryPolicy, code: int
) -> datetime | None:
    async with database.unit_of_work() as session:
        return await service.record_attempt(
            session,
            delivery_id,
            service.AttemptOutcome(at, duration_ms=0, status_code=code),
            policy=policy,
        )


async def _state(
    database: Database, delivery_id: str
) -> tuple[Delivery, WebhookEndpoint, list[OutboxMessage]]:
    async with database.unit_of_work() as session:
        found = await session.get(Delivery, delivery_id)
        assert found is not None
        endpoint = await session.get(WebhookEndpoint, found.endpoint_id)
        assert endpoint is not None
        events = (await session.exec(select(OutboxMessage))).all()
        return found, endpoint, list(events)


async def test_an_endpoint_failing_for_five_days_is_disabled_with_an_event(
    database_url: str,
) -> None:
    database = Database(database_url)
    policy = service.RetryPolicy(schedule=[HOUR] * 200, disable_after=timedelta(days=5))
    try:
        async with database.unit_of_work() as session:
            delivery = await queue_one(session)
        assert await _fail(database, delivery.id, T0, policy, 500) is not None
        almost = T0 + timedelta(days=5) - timedelta(seconds=1)
        assert await _fail(database, delivery.id, almost, policy, 500) is not None
        _, endpoint, events = await _state(database, delivery.id)
        assert endpoint.disabled_at is None and events == []

        assert await _fail(database, delivery.id, T0 + timedelta(days=5), policy, 500) is None
        stored, endpoint, events = await _state(database, delivery.id)
    finally:
        await database.dispose()

    assert endpoint.disabled_at == T0 + timedelta(days=5)
    assert endpoint.failing_since == T0
    (event,) = events
    assert event.event_type == "rapport.webhooks.endpoint.disabled.v1"
    data = json.loads(event.value)
    assert data["reason"] == "failing"
    assert data["endpoint_id"] == str(endpoint.id)
    # The message waits (unclaimed) for the endpoint to be enabled again.
    assert stored.status == "pending"


async def test_a_success_resets_the_failing_clock(database_url: str) -> None:
    database = Database(database_url)
    policy = service.RetryPolicy(schedule=[HOUR] * 200, disable_after=timedelta(days=5))
    try:
        async with database.unit_of_work() as session:
            first = await queue_one(session)
            envelope = envelope_of(factories.session_completed())
            (second,) = await service.enqueue_deliveries(
                session, envelope.payload, event_id=envelope.id, occurred_at=envelope.time
            )
        await _fail(database, first.id, T0, policy, 500)
        await _fail(database, second.id, T0 + timedelta(days=3), policy, 200)
        await _fail(database, first.id, T0 + timedelta(days=6), policy, 500)
        _, endpoint, events = await _state(database, first.id)
    finally:
        await database.dispose()

    assert endpoint.disabled_at is None
    assert endpoint.failing_since == T0 + timedelta(days=6)
    assert events == []


async def test_410_gone_fails_the_message_and_disables_the_endpoint(database_url: str) -> None:
    database = Database(database_url)
    policy = service.RetryPolicy(schedule=[5.0, 5.0])
    try:
        async with database.unit_of_work() as session:
            delivery = await queue_one(session)
        assert await _fail(database, delivery.id, T0, policy, 410) is None
        stored, endpoint, events = await _state(database, delivery.id)
    finally:
        await database.dispose()

    assert stored.status == "failed"
    assert endpoint.disabled_at is not None
    assert endpoint.disabled_reason == "the endpoint answered 410 Gone"
    (event,) = events
    assert json.loads(event.value)["reason"] == "gone"


def test_retry_after_headers_are_read_as_seconds_or_an_http_date() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT") == 0.0  # in the past: now
    far = parse_retry_after("Fri, 31 Dec 2100 23:59:59 GMT")
    assert far is not None and far > 365 * 86400
    assert parse_retry_after(None) is None
    assert parse_retry_after("-5") is None
    assert parse_retry_after("soon") is None
