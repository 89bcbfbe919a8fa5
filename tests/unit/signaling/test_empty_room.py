"""Empty-room end: a session under way that everyone left ends after a timeout, by no one."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.signaling import repository
from services.signaling.errors import SessionOver
from services.signaling.registry import LocalRoomRegistry
from services.signaling.room import Seat
from services.signaling.schemas import CloseCode
from services.signaling.service import Signaling
from shared.db import Database
from shared.events.catalog import SessionEnded
from shared.tokens import Principal
from tests.unit.signaling.conftest import StartSignaling, outbox_events, schedule, short_types


class Clock:
    """An injected clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _principal(user_id: uuid.UUID, session_id: uuid.UUID) -> Principal:
    return Principal(
        subject=str(user_id),
        role="client",
        scopes=frozenset(),
        token_id=str(uuid.uuid4()),
        expires_at=int(time.time()) + 300,
        session_id=session_id,
    )


async def _started_call(database: Database, signaling: Signaling) -> tuple[uuid.UUID, Seat, Seat]:
    clinician, client = uuid.uuid4(), uuid.uuid4()
    session_id = await schedule(database, clinician_id=clinician, client_id=client)
    async with database.unit_of_work() as session:
        clinician_seat, _ = await signaling.join(
            session, _principal(clinician, session_id), connection=1, display_name=None
        )
        client_seat, _ = await signaling.join(
            session, _principal(client, session_id), connection=2, display_name=None
        )
        await signaling.admit(session, clinician_seat, client)
    return session_id, clinician_seat, client_seat


async def test_a_started_room_everyone_left_ends_when_nobody_came_back(
    migrated_database: Database,
) -> None:
    clock = Clock()
    rooms = LocalRoomRegistry()
    signaling = Signaling(rooms, clock=clock)
    session_id, clinician_seat, client_seat = await _started_call(migrated_database, signaling)
    async with migrated_database.unit_of_work() as session:
        await signaling.leave(session, client_seat)
        assert signaling.emptied_at(session_id) is None  # the clinician is still there
        clock.advance(60)
        await signaling.leave(session, clinician_seat)
    emptied_at = signaling.emptied_at(session_id)
    assert emptied_at == clock.now
    assert rooms.get(session_id) is not None  # kept, empty, for the timeout

    clock.advance(300)
    async with migrated_database.unit_of_work() as session:
        await signaling.end_if_empty(session, session_id, emptied_at)
    assert rooms.get(session_id) is None
    events = await outbox_events(migrated_database, session_id)
    assert short_types(events)[-1] == "session.ended"
    ended = events[-1].payload
    assert isinstance(ended, SessionEnded)
    assert ended.ended_by is None and ended.reason == "empty-room timeout"
    assert ended.at == emptied_at  # the session really ended when the last one left

    async with migrated_database.unit_of_work() as session:
        with pytest.raises(SessionOver):
            await signaling.join(
                session,
                _principal(clinician_seat.user_id, session_id),
                connection=3,
                display_name=None,
            )
        access = await repository.get_access(session, session_id)
    assert access is not None and access.ended_at == emptied_at and access.ended_by is None


async def test_coming_back_before_the_timeout_keeps_the_session_going(
    migrated_database: Database,
) -> None:
    clock = Clock()
    signaling = Signaling(LocalRoomRegistry(), clock=clock)
    session_id, clinician_seat, client_seat = await _started_call(migrated_database, signaling)
    async with migrated_database.unit_of_work() as session:
        await signaling.leave(session, client_seat)
        await signaling.leave(session, clinician_seat)
    emptied_at = signaling.emptied_at(session_id)
    assert emptied_at is not None

    clock.advance(100)
    async with migrated_database.unit_of_work() as session:
        await signaling.join(
            session,
            _principal(clinician_seat.user_id, session_id),
            connection=3,
            display_name=None,
        )
        clock.advance(300)
        outcome = await signaling.end_if_empty(session, session_id, emptied_at)
    assert outcome.events == []
    assert signaling.emptied_at(session_id) is None
    assert "session.ended" not in short_types(await outbox_events(migrated_database, session_id))


async def test_a_room_that_never_started_is_simply_forgotten(
    migrated_database: Database,
) -> None:
    rooms = LocalRoomRegistry()
    signaling = Signaling(rooms)
    clinician, client = uuid.uuid4(), uuid.uuid4()
    session_id = await schedule(migrated_database, clinician_id=clinician, client_id=client)
    async with migrated_database.unit_of_work() as session:
        seat, _ = await signaling.join(
            session, _principal(client, session_id), connection=1, display_name=None
        )
        await signaling.leave(session, seat)
    assert rooms.get(session_id) is None and signaling.emptied_at(session_id) is None


async def test_over_a_socket_the_empty_room_ends_after_the_configured_timeout(
    start_signaling: StartSignaling,
) -> None:
    # Short timeouts instead of a clock: a drop's grace period, then the empty-room timeout.
    signaling = await start_signaling(resume_grace_seconds=0.1, empty_room_timeout_seconds=0.3)
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    await clinician.expect("waiting-room")
    await clinician.send({"type": "admit", "user_id": str(client_id)})
    await client.expect("joined")
    await client.send({"type": "leave"})
    assert await client.closed_with() == CloseCode.NORMAL
    await clinician.close()  # a drop: it counts once the grace period is over

    deadline = time.monotonic() + 10
    while "session.ended" not in short_types(await signaling.events(session_id)):
        assert time.monotonic() < deadline, "the empty room did not end"
        await asyncio.sleep(0.05)
    ended = (await signaling.events(session_id))[-1].payload
    assert isinstance(ended, SessionEnded) and ended.reason == "empty-room timeout"

    again = await signaling.connect()
    token = signaling.issuer.signaling(clinician_id, "clinician", session_id)
    await again.send({"type": "join", "token": token})
    assert await again.closed_with() == CloseCode.SESSION_ENDED
