"""A room rebuilt by another process from its written state: everyone is put back where they
were (members in the call, waiting clients in their place), and nothing is recorded again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.signaling.room import DETACHED, Outcome, Room, RoomState, Seat
from services.signaling.schemas import Joined, Waiting, WaitingRoom

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=30)
CLINICIAN, CLIENT, GUEST = uuid.UUID(int=1), uuid.UUID(int=2), uuid.UUID(int=3)
SESSION = uuid.UUID(int=100)


def _to(outcome: Outcome, connection: int) -> list[object]:
    return [message for target, message in outcome.messages if target == connection]


def _token(outcome: Outcome, connection: int) -> str:
    [message] = [m for m in _to(outcome, connection) if isinstance(m, Waiting | Joined)]
    assert message.resume_token
    return message.resume_token


def _moved(room: Room) -> Room:
    """The room as the next owner rebuilds it from what was written (through JSON)."""
    state = RoomState.model_validate_json(room.snapshot().model_dump_json())
    return Room.restore(state, LATER)


def _room_with_a_call_and_a_queue() -> tuple[Room, str, str]:
    room = Room(SESSION, clinician_id=CLINICIAN, client_id=CLIENT, invited=[GUEST])
    room.check_in(CLINICIAN, 1, "Dr. Lee", NOW)
    client_token = _token(room.check_in(CLIENT, 2, "Sam", NOW), 2)
    guest_token = _token(room.check_in(GUEST, 3, "Ana", NOW + timedelta(seconds=1)), 3)
    room.admit(Seat(SESSION, CLINICIAN, 1), CLIENT, NOW)
    return room, client_token, guest_token


def test_an_admitted_member_comes_back_into_the_call_without_being_admitted_again() -> None:
    room, client_token, _ = _room_with_a_call_and_a_queue()
    moved = _moved(room)
    assert {p.user_id: p.connection for p in moved.participants} == dict.fromkeys(
        (CLINICIAN, CLIENT, GUEST), DETACHED
    )
    back = moved.check_in(CLIENT, 7, None, LATER, resume=client_token)
    [joined] = _to(back, 7)
    assert isinstance(joined, Joined) and joined.resumed
    assert [p.user_id for p in joined.peers] == [CLINICIAN]
    assert back.events == []  # neither checked in, admitted nor joined again
    assert moved.started


def test_a_waiting_client_with_its_resume_token_keeps_its_place() -> None:
    room, _, guest_token = _room_with_a_call_and_a_queue()
    moved = _moved(room)
    clinician = moved.check_in(CLINICIAN, 5, None, LATER)
    assert clinician.events == []
    back = moved.check_in(GUEST, 6, None, LATER, resume=guest_token)
    [waiting] = _to(back, 6)
    assert isinstance(waiting, Waiting) and waiting.resumed
    assert waiting.since == NOW + timedelta(seconds=1)
    assert back.events == []
    [update] = _to(back, 5)
    assert isinstance(update, WaitingRoom)
    assert [(w.user_id, w.since) for w in update.waiting] == [(GUEST, NOW + timedelta(seconds=1))]


def test_without_the_resume_token_a_waiting_client_arrives_anew() -> None:
    room, _, _ = _room_with_a_call_and_a_queue()
    moved = _moved(room)
    again = moved.check_in(GUEST, 6, None, LATER, resume="not-the-token")
    [waiting] = [m for m in _to(again, 6) if isinstance(m, Waiting)]
    assert waiting.since == LATER and not waiting.resumed


def test_the_written_state_holds_no_resume_token() -> None:
    room, client_token, guest_token = _room_with_a_call_and_a_queue()
    written = room.snapshot().model_dump_json()
    assert client_token not in written and guest_token not in written
