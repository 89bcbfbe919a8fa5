"""The use cases against a real (SQLite) database: what they check and what they remember."""

from __future__ import annotations

import time
import uuid

import pytest

from services.signaling import repository
from services.signaling.errors import SessionOver, UnknownSession
from services.signaling.registry import LocalRoomRegistry
from services.signaling.service import Signaling
from shared.db import Database
from shared.errors import Unauthorized
from shared.tokens import Principal
from tests.unit.signaling.conftest import outbox_events, schedule, short_types


def _principal(user_id: uuid.UUID, session_id: uuid.UUID | None) -> Principal:
    return Principal(
        subject=str(user_id),
        role="client",
        scopes=frozenset(),
        token_id=str(uuid.uuid4()),
        expires_at=int(time.time()) + 300,
        session_id=session_id,
    )


async def test_joining_needs_a_known_open_session(migrated_database: Database) -> None:
    signaling = Signaling(LocalRoomRegistry())
    async with migrated_database.unit_of_work() as session:
        with pytest.raises(UnknownSession):
            await signaling.join(
                session, _principal(uuid.uuid4(), uuid.uuid4()), connection=1, display_name=None
            )
        with pytest.raises(Unauthorized):
            await signaling.join(
                session, _principal(uuid.uuid4(), None), connection=1, display_name=None
            )


async def test_an_ended_session_refuses_joins_even_after_a_restart(
    migrated_database: Database,
) -> None:
    clinician, client = uuid.uuid4(), uuid.uuid4()
    session_id = await schedule(migrated_database, clinician_id=clinician, client_id=client)
    signaling = Signaling(LocalRoomRegistry())
    async with migrated_database.unit_of_work() as session:
        seat, _ = await signaling.join(
            session, _principal(clinician, session_id), connection=1, display_name=None
        )
    async with migrated_database.unit_of_work() as session:
        await signaling.end(session, seat)

    restarted = Signaling(LocalRoomRegistry())  # a new process: no rooms in memory
    async with migrated_database.unit_of_work() as session:
        with pytest.raises(SessionOver):
            await restarted.join(
                session, _principal(client, session_id), connection=1, display_name=None
            )
        access = await repository.get_access(session, session_id)
    assert access is not None and access.ended_by == clinician
    assert short_types(await outbox_events(migrated_database, session_id)) == [
        "participant.joined",
        "participant.left",
        "session.ended",
    ]


async def test_call_connected_is_recorded_once_per_session_across_restarts(
    migrated_database: Database,
) -> None:
    clinician, client = uuid.uuid4(), uuid.uuid4()
    session_id = await schedule(migrated_database, clinician_id=clinician, client_id=client)

    async def connect_a_call(signaling: Signaling) -> None:
        async with migrated_database.unit_of_work() as session:
            clinician_seat, _ = await signaling.join(
                session, _principal(clinician, session_id), connection=1, display_name=None
            )
            client_seat, _ = await signaling.join(
                session, _principal(client, session_id), connection=2, display_name=None
            )
            await signaling.admit(session, clinician_seat, client)
            await signaling.report_connected(session, clinician_seat)
            await signaling.report_connected(session, client_seat)

    await connect_a_call(Signaling(LocalRoomRegistry()))
    await connect_a_call(Signaling(LocalRoomRegistry()))  # same session, a new process

    events = short_types(await outbox_events(migrated_database, session_id))
    assert events.count("call.connected") == 1
    async with migrated_database.unit_of_work() as session:
        access = await repository.get_access(session, session_id)
    assert access is not None and access.call_connected_at is not None


async def test_a_room_is_forgotten_when_its_last_participant_leaves(
    migrated_database: Database,
) -> None:
    clinician, client = uuid.uuid4(), uuid.uuid4()
    session_id = await schedule(migrated_database, clinician_id=clinician, client_id=client)
    rooms = LocalRoomRegistry()
    signaling = Signaling(rooms)
    async with migrated_database.unit_of_work() as session:
        seat, _ = await signaling.join(
            session, _principal(client, session_id), connection=7, display_name="Sam"
        )
    assert rooms.get(session_id) is not None
    async with migrated_database.unit_of_work() as session:
        await signaling.leave(session, seat)
        await signaling.leave(session, seat)  # a second leave (the socket's drop) is a no-op
    assert rooms.get(session_id) is None
    assert short_types(await outbox_events(migrated_database, session_id)) == [
        "participant.checked_in",
        "participant.left",
    ]
