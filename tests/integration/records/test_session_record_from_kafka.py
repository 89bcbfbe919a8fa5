"""A session record built from a real signaling event stream over Kafka, into PostgreSQL.

The same session is played twice: once in order, once reordered with duplicates (the same
CloudEvent delivered twice, and the same fact reported again under a new event id). Both
records must come out the same, and ``session.completed`` must go out once for each.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.records.app import create_app, migrate
from services.records.settings import RecordsSettings
from shared.events.catalog import (
    TOPIC_RECORDS,
    CallConnected,
    CallQuality,
    ParticipantAdmitted,
    ParticipantCheckedIn,
    ParticipantJoined,
    ParticipantLeft,
    Payload,
    SessionCompleted,
    SessionEnded,
    UserRegistered,
)
from shared.events.envelope import decode, encode
from tests.support.tokens import TestTokenIssuer

pytestmark = pytest.mark.integration


class RecordsUnderTest:
    def __init__(self, http: httpx.AsyncClient, issuer: TestTokenIssuer, bootstrap: str) -> None:
        self.http = http
        self.issuer = issuer
        self.bootstrap = bootstrap

    def auth(self, user_id: uuid.UUID, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(user_id, role)}"}


@pytest.fixture
async def records(kafka_bootstrap: str, fresh_database: str) -> AsyncIterator[RecordsUnderTest]:
    settings = RecordsSettings(
        environment="test", database_url=fresh_database, kafka_bootstrap=kafka_bootstrap
    )
    await asyncio.to_thread(migrate, settings.database_url)
    issuer = TestTokenIssuer()
    app = create_app(settings, key_source=issuer.key_source)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://records"
        ) as http,
    ):
        yield RecordsUnderTest(http, issuer, kafka_bootstrap)


async def _send(bootstrap: str, records: list[Any]) -> None:
    """Produce already-encoded records in exactly this order (one partition per key)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for record in records:
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()


def _encoded(payload: Payload, source: str = "/rapport/signaling") -> Any:
    return encode(payload, source=source)


async def _eventually(check: Any, timeout: float = 60) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result is not None:
                return result
            await asyncio.sleep(0.2)


async def _book(records: RecordsUnderTest, clinician: uuid.UUID, client: uuid.UUID, at: datetime):
    async def book() -> uuid.UUID | None:
        response = await records.http.post(
            "/v1/appointments",
            json={
                "client_id": str(client),
                "starts_at": at.isoformat(),
                "ends_at": (at + timedelta(minutes=50)).isoformat(),
            },
            headers=records.auth(clinician, "clinician"),
        )
        if response.status_code == 422 and "unknown client" in response.text:
            return None  # identity's event has not been applied yet
        assert response.status_code == 201, response.text
        return uuid.UUID(response.json()["session_id"])

    return await _eventually(book)


def _session_events(
    session_id: uuid.UUID, clinician: uuid.UUID, client: uuid.UUID, t0: datetime
) -> list[Payload]:
    def at(seconds: int) -> datetime:
        return t0 + timedelta(seconds=seconds)

    return [
        ParticipantCheckedIn(session_id=session_id, user_id=client, role="client", at=at(0)),
        ParticipantCheckedIn(session_id=session_id, user_id=clinician, role="clinician", at=at(30)),
        ParticipantAdmitted(
            session_id=session_id, user_id=client, role="client", at=at(40), admitted_by=clinician
        ),
        ParticipantJoined(session_id=session_id, user_id=clinician, role="clinician", at=at(41)),
        ParticipantJoined(session_id=session_id, user_id=client, role="client", at=at(42)),
        CallConnected(session_id=session_id, at=at(45)),
        ParticipantLeft(session_id=session_id, user_id=client, role="client", at=at(2745)),
        ParticipantLeft(session_id=session_id, user_id=clinician, role="clinician", at=at(2750)),
        SessionEnded(session_id=session_id, ended_by=clinician, reason="ended", at=at(2750)),
    ]


def _quality(
    session_id: uuid.UUID, clinician: uuid.UUID, client: uuid.UUID, t0: datetime
) -> list[Payload]:
    """One connection-quality sample from each side, mid-call."""
    return [
        CallQuality(
            session_id=session_id,
            user_id=user,
            role=role,  # type: ignore[arg-type]
            round_trip_ms=rtt,
            packet_loss=0.02,
            jitter_ms=4.0,
            bitrate_kbps=900.0,
            at=t0 + timedelta(seconds=600),
        )
        for user, role, rtt in ((clinician, "clinician", 40.0), (client, "client", 80.0))
    ]


def _comparable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("session_id", "appointment_id")}


async def _completions(
    bootstrap: str, session_ids: set[uuid.UUID], expected: int
) -> list[SessionCompleted]:
    """Every SessionCompleted for these sessions on the records topic: read until the
    expected number arrived, then on to the end of the topic (so a duplicate would show)."""
    consumer = AIOKafkaConsumer(
        TOPIC_RECORDS,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    found: list[SessionCompleted] = []
    empty_polls = 0
    try:
        async with asyncio.timeout(60):
            while len(found) < expected or empty_polls < 3:
                batch = await consumer.getmany(timeout_ms=500)
                rows = [row for partition in batch.values() for row in partition]
                empty_polls = 0 if rows else empty_polls + 1
                for row in rows:
                    envelope = decode(row.key, row.value, list(row.headers))
                    payload = envelope.payload
                    if isinstance(payload, SessionCompleted) and payload.session_id in session_ids:
                        found.append(payload)
    finally:
        await consumer.stop()
    return found


async def test_the_same_session_record_from_ordered_and_from_shuffled_duplicated_events(
    records: RecordsUnderTest,
) -> None:
    clinician, client = uuid.uuid4(), uuid.uuid4()
    registered = datetime.now(UTC)
    await _send(
        records.bootstrap,
        [
            _encoded(
                UserRegistered(user_id=user, role=role, registered_at=registered),  # type: ignore[arg-type]
                source="/rapport/identity",
            )
            for user, role in ((clinician, "clinician"), (client, "client"))
        ],
    )
    t0 = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    ordered_id = await _book(records, clinician, client, t0)
    shuffled_id = await _book(records, clinician, client, t0 + timedelta(hours=2))

    in_order = [_encoded(e) for e in _session_events(ordered_id, clinician, client, t0)]
    in_order[-1:-1] = [_encoded(e) for e in _quality(ordered_id, clinician, client, t0)]
    quality_a, quality_b = (_encoded(e) for e in _quality(shuffled_id, clinician, client, t0))
    shuffled_events = _session_events(shuffled_id, clinician, client, t0)
    shuffled = [_encoded(e) for e in shuffled_events]
    checked_in, _, admitted, joined_a, joined_b, connected, left_a, left_b, ended = shuffled
    # The end first, the same CloudEvent twice, and the client's join reported again with a
    # new event id (and a later time that must not move the first join).
    rejoin = _encoded(
        ParticipantJoined(
            session_id=shuffled_id, user_id=client, role="client", at=t0 + timedelta(minutes=20)
        )
    )
    # The admission comes last: once it shows, the whole shuffled stream has been applied
    # (one key, one partition, applied in order).
    reordered = [
        ended, left_b, quality_b, joined_b, connected, ended, rejoin, checked_in, left_a,
        shuffled[1], quality_a, joined_a, connected, quality_b, left_a, admitted,
    ]  # fmt: skip
    await _send(records.bootstrap, in_order + reordered)

    async def record(session_id: uuid.UUID) -> dict[str, Any] | None:
        response = await records.http.get(
            f"/v1/sessions/{session_id}", headers=records.auth(clinician, "clinician")
        )
        body = response.json()
        # Done when the last of each stream's events (admitted / the in-order end) is applied.
        if body["status"] == "completed" and body["admitted_at"] is not None:
            return body
        return None

    first = await _eventually(lambda: record(ordered_id))
    second = await _eventually(lambda: record(shuffled_id))

    assert _comparable(second) == _comparable(first)
    assert first["outcome"] == "completed"
    assert first["duration_seconds"] == 2750 - 45
    assert first["quality"]["samples"] == 2 and first["quality"]["round_trip_ms_median"] == 60
    assert datetime.fromisoformat(first["checked_in_at"]) == t0
    attendees = {a["role"]: a for a in first["attendees"]}
    assert datetime.fromisoformat(attendees["client"]["joined_at"]) == t0 + timedelta(seconds=42)
    assert datetime.fromisoformat(attendees["client"]["left_at"]) == t0 + timedelta(seconds=2745)

    found = await _completions(records.bootstrap, {ordered_id, shuffled_id}, expected=2)
    # Once per session, however often the end arrived.
    assert sorted(str(c.session_id) for c in found) == sorted([str(ordered_id), str(shuffled_id)])
    [in_order_completion] = [c for c in found if c.session_id == ordered_id]
    assert in_order_completion.duration_seconds == 2750 - 45
    assert in_order_completion.outcome == "completed"
    assert in_order_completion.quality is not None
    assert in_order_completion.quality.round_trip_ms_p95 == 80
    # Known limit: when the end arrives before the joins, the one announcement carries what
    # was known then; the record itself is corrected by the later events (asserted above).
