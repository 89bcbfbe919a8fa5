"""Extra participants: invited guests wait, are admitted up to the appointment's limit, and
every pair of members negotiates with exactly one impolite side."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.signaling import repository
from services.signaling.errors import NotYourSession, RoomFull
from services.signaling.room import Room, Seat, polite_towards
from services.signaling.schemas import (
    Joined,
    Offer,
    PeerJoined,
    RelayedOffer,
    Waiting,
)
from services.signaling.service import record_appointment
from shared.db import Database
from shared.events.catalog import (
    AppointmentRescheduled,
    AppointmentScheduled,
    ParticipantCheckedIn,
    ParticipantJoined,
)
from tests.unit.signaling.conftest import RunningSignaling

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SESSION = uuid.UUID(int=100)
CLINICIAN = uuid.UUID(int=1)
CLIENT = uuid.UUID(int=2)
INTERPRETER = uuid.UUID(int=3)
FAMILY = uuid.UUID(int=4)


def _group_room(max_participants: int = 4) -> Room:
    room = Room(
        SESSION,
        clinician_id=CLINICIAN,
        client_id=CLIENT,
        invited=[INTERPRETER, FAMILY],
        max_participants=max_participants,
    )
    room.check_in(CLINICIAN, 1, "Dr. Lee", NOW)
    room.check_in(CLIENT, 2, "Sam", NOW)
    room.check_in(INTERPRETER, 3, "Ana", NOW + timedelta(seconds=1))
    room.check_in(FAMILY, 4, "Jo", NOW + timedelta(seconds=2))
    return room


CLINICIAN_SEAT = Seat(SESSION, CLINICIAN, 1)


def test_invited_participants_wait_as_guests_and_others_stay_out() -> None:
    room = Room(SESSION, clinician_id=CLINICIAN, client_id=CLIENT, invited=[INTERPRETER])
    outcome = room.check_in(INTERPRETER, 3, "Ana", NOW)
    assert isinstance(outcome.messages[0][1], Waiting)
    [checked_in] = outcome.events
    assert isinstance(checked_in, ParticipantCheckedIn) and checked_in.role == "guest"
    with pytest.raises(NotYourSession):
        room.check_in(FAMILY, 4, "Jo", NOW)


def test_admission_stops_at_max_participants() -> None:
    room = _group_room(max_participants=3)
    room.admit(CLINICIAN_SEAT, CLIENT, NOW)
    room.admit(CLINICIAN_SEAT, INTERPRETER, NOW)
    with pytest.raises(RoomFull):
        room.admit(CLINICIAN_SEAT, FAMILY, NOW)
    assert {p.user_id for p in room.participants if p.admitted} == {CLINICIAN, CLIENT, INTERPRETER}
    assert [p.user_id for p in room.participants if not p.admitted] == [FAMILY]


def test_a_dropped_member_keeps_their_seat_during_the_grace_period() -> None:
    room = _group_room(max_participants=3)
    room.admit(CLINICIAN_SEAT, CLIENT, NOW)
    room.admit(CLINICIAN_SEAT, INTERPRETER, NOW)
    room.drop(Seat(SESSION, INTERPRETER, 3), NOW)
    with pytest.raises(RoomFull):
        room.admit(CLINICIAN_SEAT, FAMILY, NOW)
    room.expire(Seat(SESSION, INTERPRETER, 3), NOW + timedelta(seconds=20))
    room.admit(CLINICIAN_SEAT, FAMILY, NOW)


def test_admit_all_admits_the_longest_waiting_up_to_the_limit() -> None:
    room = _group_room(max_participants=3)
    outcome = room.admit_all(CLINICIAN_SEAT, NOW)
    joined = [e.user_id for e in outcome.events if isinstance(e, ParticipantJoined)]
    assert joined == [CLIENT, INTERPRETER]  # Jo checked in last and keeps waiting
    assert [p.user_id for p in room.participants if not p.admitted] == [FAMILY]


def test_every_admitted_member_hears_of_a_newcomer_with_pairwise_politeness() -> None:
    room = _group_room()
    room.admit(CLINICIAN_SEAT, CLIENT, NOW)
    room.admit(CLINICIAN_SEAT, FAMILY, NOW)
    outcome = room.admit(CLINICIAN_SEAT, INTERPRETER, NOW)
    told = {
        connection: message
        for connection, message in outcome.messages
        if isinstance(message, PeerJoined)
    }
    # `polite` is whether the interpreter (user id ...03) is polite towards each recipient:
    # towards the clinician always; towards the client (...02) too, its id being larger;
    # not towards the family member (...04), whose id is larger: the interpreter offers there.
    assert told[1].polite is True
    assert told[2].polite is True
    assert told[4].polite is False
    joined = next(m for c, m in outcome.messages if c == 3 and isinstance(m, Joined))
    assert {p.user_id for p in joined.peers} == {CLINICIAN, CLIENT, FAMILY}


def test_every_pair_has_exactly_one_impolite_side() -> None:
    room = _group_room()
    room.admit_all(CLINICIAN_SEAT, NOW)
    members = [p for p in room.participants if p.admitted]
    assert len(members) == 4
    for one in members:
        for other in members:
            if one is not other:
                assert polite_towards(one, other) != polite_towards(other, one)


def test_relay_reaches_all_members_or_only_the_addressed_one() -> None:
    room = _group_room()
    room.admit_all(CLINICIAN_SEAT, NOW)
    everyone = room.relay(Seat(SESSION, INTERPRETER, 3), Offer(sdp="v=0"))
    assert sorted(c for c, _ in everyone.messages) == [1, 2, 4]
    addressed = room.relay(Seat(SESSION, INTERPRETER, 3), Offer(sdp="v=0", to=FAMILY))
    assert addressed.messages == [(4, RelayedOffer(sdp="v=0", to=FAMILY, from_=INTERPRETER))]


async def test_the_projection_keeps_invitations_and_follows_a_reschedule(
    migrated_database: Database,
) -> None:
    scheduled = AppointmentScheduled(
        appointment_id=uuid.uuid4(),
        session_id=SESSION,
        clinician_id=CLINICIAN,
        client_id=CLIENT,
        starts_at=NOW,
        ends_at=NOW + timedelta(minutes=50),
        max_participants=3,
        invited_participant_ids=[INTERPRETER],
    )
    async with migrated_database.unit_of_work() as session:
        await record_appointment(session, scheduled)
    moved = AppointmentRescheduled(
        appointment_id=scheduled.appointment_id,
        session_id=SESSION,
        clinician_id=CLINICIAN,
        client_id=CLIENT,
        starts_at=NOW + timedelta(days=1),
        ends_at=NOW + timedelta(days=1, minutes=50),
        status="booked",
        at=NOW,
        max_participants=4,
        invited_participant_ids=[INTERPRETER, FAMILY],
    )
    async with migrated_database.unit_of_work() as session:
        await record_appointment(session, moved)
    async with migrated_database.unit_of_work() as session:
        access = await repository.get_access(session, SESSION)
    assert access is not None
    assert access.starts_at == NOW + timedelta(days=1)
    assert access.max_participants == 4
    assert access.invited == {INTERPRETER, FAMILY}


async def test_over_sockets_a_guest_joins_a_three_way_call(
    signaling: RunningSignaling,
) -> None:
    clinician_id, client_id, guest_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    session_id = uuid.uuid4()
    starts = datetime.now(UTC)
    async with signaling.database.unit_of_work() as session:
        await record_appointment(
            session,
            AppointmentScheduled(
                appointment_id=uuid.uuid4(),
                session_id=session_id,
                clinician_id=clinician_id,
                client_id=client_id,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=50),
                max_participants=3,
                invited_participant_ids=[guest_id],
            ),
        )
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    client, waiting = await signaling.join(client_id, "client", session_id)
    guest, guest_waiting = await signaling.join(guest_id, "client", session_id, "Ana")
    assert waiting["type"] == guest_waiting["type"] == "waiting"
    await clinician.expect("waiting-room")
    room = await clinician.expect("waiting-room")
    assert {(w["user_id"], w["role"]) for w in room["waiting"]} == {
        (str(client_id), "client"),
        (str(guest_id), "guest"),
    }

    await clinician.send({"type": "admit-all"})
    await client.expect("joined")
    joined = await guest.expect("joined")
    assert {p["user_id"] for p in joined["peers"]} == {str(clinician_id), str(client_id)}
    assert (await client.expect("peer-joined"))["peer"] == {
        "user_id": str(guest_id),
        "role": "guest",
    }

    # The guest and the client negotiate with each other directly (``to``).
    await guest.send({"type": "offer", "sdp": "v=0", "to": str(client_id)})
    relayed = await client.expect("offer")
    assert relayed["from"] == str(guest_id)
    await client.send({"type": "answer", "sdp": "v=0", "to": str(guest_id)})
    assert (await guest.expect("answer"))["from"] == str(client_id)
