"""The consumed events: appointment.scheduled builds the access projection."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.signaling.events import build_router
from services.signaling.models import SessionAccess
from services.signaling.schemas import CloseCode
from shared.db import Database
from shared.events.catalog import (
    TOPIC_IDENTITY,
    TOPIC_RECORDS,
    AppointmentCancelled,
    AppointmentScheduled,
    Payload,
)
from shared.events.envelope import decode, encode
from tests.unit.signaling.conftest import RunningSignaling


def _scheduled(
    session_id: uuid.UUID, clinician: uuid.UUID, client: uuid.UUID, starts_at: datetime
) -> AppointmentScheduled:
    return AppointmentScheduled(
        appointment_id=uuid.uuid4(),
        session_id=session_id,
        clinician_id=clinician,
        client_id=client,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=50),
    )


async def _deliver(database: Database, payload: Payload) -> None:
    record = encode(payload, source="/rapport/records")
    async with database.unit_of_work() as session:
        await build_router().dispatch(session, decode(record.key, record.value, record.headers))


def test_the_router_consumes_records_appointments_and_identitys_guests() -> None:
    router = build_router()
    assert router.topics == [TOPIC_IDENTITY, TOPIC_RECORDS]
    assert router.handles("rapport.identity.session.guest_invited.v1")
    assert router.handles("rapport.identity.session.guest_revoked.v1")
    assert router.handles("rapport.records.appointment.scheduled.v1")
    assert router.handles("rapport.records.appointment.cancelled.v1")
    assert not router.handles("rapport.records.goal.updated.v1")


async def test_a_scheduled_appointment_says_who_may_join(migrated_database: Database) -> None:
    session_id, clinician, client = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    starts = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    payload = _scheduled(session_id, clinician, client, starts)
    await _deliver(migrated_database, payload)

    async with migrated_database.unit_of_work() as session:
        access = await session.get(SessionAccess, session_id)
    assert access is not None
    assert (access.appointment_id, access.clinician_id, access.client_id) == (
        payload.appointment_id,
        clinician,
        client,
    )
    assert access.starts_at == starts
    assert access.ends_at == starts + timedelta(minutes=50)
    assert access.ended_at is None and access.call_connected_at is None


async def test_a_later_event_for_the_session_updates_it_without_forgetting_the_end(
    migrated_database: Database,
) -> None:
    session_id, clinician = uuid.uuid4(), uuid.uuid4()
    starts = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    await _deliver(migrated_database, _scheduled(session_id, clinician, uuid.uuid4(), starts))
    ended_at = datetime(2026, 12, 1, 9, 40, tzinfo=UTC)
    async with migrated_database.unit_of_work() as session:
        access = await session.get(SessionAccess, session_id)
        assert access is not None
        access.ended_at = ended_at
        session.add(access)

    new_client = uuid.uuid4()
    moved = starts + timedelta(days=1)
    await _deliver(migrated_database, _scheduled(session_id, clinician, new_client, moved))
    async with migrated_database.unit_of_work() as session:
        access = await session.get(SessionAccess, session_id)
    assert access is not None
    assert (access.client_id, access.starts_at, access.ended_at) == (new_client, moved, ended_at)


async def test_a_cancelled_appointments_session_refuses_joins(signaling: RunningSignaling) -> None:
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    async with signaling.database.unit_of_work() as session:
        access = await session.get(SessionAccess, session_id)
    assert access is not None
    cancellation = AppointmentCancelled(
        appointment_id=access.appointment_id,
        session_id=session_id,
        clinician_id=clinician_id,
        client_id=client_id,
        starts_at=access.starts_at,
        ends_at=access.ends_at,
        status="cancelled",
        at=datetime.now(UTC),
        cancelled_by="client",
    )
    await _deliver(signaling.database, cancellation)

    for user_id, role in [(client_id, "client"), (clinician_id, "clinician")]:
        late = await signaling.connect()
        await late.send(
            {"type": "join", "token": signaling.issuer.signaling(user_id, role, session_id)}
        )
        assert await late.closed_with() == CloseCode.SESSION_ENDED


async def test_a_cancellation_of_an_unknown_session_is_ignored(
    migrated_database: Database,
) -> None:
    now = datetime.now(UTC)
    session_id = uuid.uuid4()
    await _deliver(
        migrated_database,
        AppointmentCancelled(
            appointment_id=uuid.uuid4(),
            session_id=session_id,
            clinician_id=uuid.uuid4(),
            client_id=uuid.uuid4(),
            starts_at=now,
            ends_at=now + timedelta(minutes=50),
            status="cancelled",
            at=now,
            cancelled_by="clinician",
        ),
    )
    async with migrated_database.unit_of_work() as session:
        assert await session.get(SessionAccess, session_id) is None
