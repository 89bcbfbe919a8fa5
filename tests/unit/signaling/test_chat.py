"""Chat: who may write to whom (the room's rules), the limits, and that chat text is kept
nowhere: not in events, the room's state or any log line."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from services.signaling.errors import NotAdmitted, NotAllowed, UnknownParticipant
from services.signaling.room import Room, Seat
from services.signaling.schemas import MAX_CHAT_CHARACTERS, Chat, ChatMessage
from services.signaling.service import Signaling
from shared.events.envelope import decode
from shared.events.outbox import OutboxMessage
from tests.unit.signaling.conftest import Peer, RunningSignaling, StartSignaling, schedule

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
SESSION = uuid.UUID(int=100)
CLINICIAN = uuid.UUID(int=1)
CLIENT = uuid.UUID(int=2)
INTERPRETER = uuid.UUID(int=3)
FAMILY = uuid.UUID(int=4)
SEATS = {
    CLINICIAN: Seat(SESSION, CLINICIAN, 1),
    CLIENT: Seat(SESSION, CLIENT, 2),
    INTERPRETER: Seat(SESSION, INTERPRETER, 3),
    FAMILY: Seat(SESSION, FAMILY, 4),
}


def _room() -> Room:
    """The clinician and the client in the call; the interpreter and a family member waiting."""
    room = Room(
        SESSION,
        clinician_id=CLINICIAN,
        client_id=CLIENT,
        invited=[INTERPRETER, FAMILY],
        max_participants=4,
    )
    room.check_in(CLINICIAN, 1, "Dr. Lee", NOW)
    room.check_in(CLIENT, 2, "Sam", NOW)
    room.check_in(INTERPRETER, 3, "Ana", NOW + timedelta(seconds=1))
    room.check_in(FAMILY, 4, "Jo", NOW + timedelta(seconds=2))
    room.admit(SEATS[CLINICIAN], CLIENT, NOW)
    return room


def _reached(room: Room, sender: uuid.UUID, to: uuid.UUID | str) -> dict[int, ChatMessage]:
    outcome = room.chat(SEATS[sender], Chat(text="hello", to=to), NOW)
    assert outcome.events == [] and outcome.closures == []
    reached: dict[int, ChatMessage] = {}
    for connection, message in outcome.messages:
        assert isinstance(message, ChatMessage)
        reached[connection] = message
    return reached


def test_the_clinician_writes_to_everyone_waiting_to_one_person_and_to_the_call() -> None:
    room = _room()
    to_waiting = _reached(room, CLINICIAN, "waiting")
    assert sorted(to_waiting) == [1, 3, 4]  # the two waiting, and the clinician's own copy
    message = to_waiting[3]
    assert (message.from_, message.role, message.to, message.text) == (
        CLINICIAN,
        "clinician",
        "waiting",
        "hello",
    )
    assert message.at == NOW
    assert sorted(_reached(room, CLINICIAN, FAMILY)) == [1, 4]
    assert sorted(_reached(room, CLINICIAN, CLIENT)) == [1, 2]
    assert sorted(_reached(room, CLINICIAN, "call")) == [1, 2]


def test_someone_waiting_writes_to_the_clinician_only_and_learns_nothing_of_the_others() -> None:
    room = _room()
    reached = _reached(room, INTERPRETER, CLINICIAN)
    assert sorted(reached) == [1, 3]
    assert reached[1].role == "guest"
    # Another waiting person, a member, the call, the waiting room, a stranger: all refused
    # the same way, so the answer does not tell who else is here.
    for to in (FAMILY, CLIENT, "call", uuid.UUID(int=99)):
        with pytest.raises(NotAdmitted):
            room.chat(SEATS[INTERPRETER], Chat(text="hi", to=to), NOW)
    with pytest.raises(NotAllowed):
        room.chat(SEATS[INTERPRETER], Chat(text="hi", to="waiting"), NOW)


def test_members_write_to_the_call_and_to_each_other_but_not_to_the_waiting_room() -> None:
    room = _room()
    room.admit(SEATS[CLINICIAN], INTERPRETER, NOW)
    assert sorted(_reached(room, CLIENT, "call")) == [1, 2, 3]
    assert sorted(_reached(room, CLIENT, INTERPRETER)) == [2, 3]
    assert sorted(_reached(room, INTERPRETER, CLINICIAN)) == [1, 3]
    with pytest.raises(NotAllowed):
        room.chat(SEATS[CLIENT], Chat(text="hi", to=FAMILY), NOW)
    with pytest.raises(NotAllowed):
        room.chat(SEATS[CLIENT], Chat(text="hi", to="waiting"), NOW)
    with pytest.raises(UnknownParticipant):
        room.chat(SEATS[CLIENT], Chat(text="hi", to=uuid.UUID(int=99)), NOW)
    with pytest.raises(UnknownParticipant):
        room.chat(SEATS[CLIENT], Chat(text="hi", to=CLIENT), NOW)


def test_nobody_dropped_is_written_to_and_the_clinician_away_cannot_be_answered() -> None:
    room = _room()
    room.drop(SEATS[CLIENT], NOW)
    assert sorted(_reached(room, CLINICIAN, "call")) == [1]
    with pytest.raises(UnknownParticipant):
        room.chat(SEATS[CLINICIAN], Chat(text="hi", to=CLIENT), NOW)
    room.leave(SEATS[CLINICIAN], NOW)
    with pytest.raises(UnknownParticipant):
        room.chat(SEATS[INTERPRETER], Chat(text="hi", to=CLINICIAN), NOW)


# Over a real socket ------------------------------------------------------------------------


async def _schedule_with_guest(signaling: RunningSignaling) -> tuple[uuid.UUID, ...]:
    clinician_id, client_id, guest_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    session_id = await schedule(
        signaling.database, clinician_id=clinician_id, client_id=client_id, invited=[guest_id]
    )
    return clinician_id, client_id, guest_id, session_id


async def _chat(peer: Peer, text: str, to: uuid.UUID | str = "call") -> None:
    await peer.send({"type": "chat", "text": text, "to": str(to)})


async def test_a_running_late_note_reaches_the_waiting_room_and_the_call_chats(
    signaling: RunningSignaling,
) -> None:
    clinician_id, client_id, guest_id, session_id = await _schedule_with_guest(signaling)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    guest, _ = await signaling.join(guest_id, "guest", session_id)
    await clinician.expect("waiting-room")
    await clinician.expect("waiting-room")

    await _chat(clinician, "Running five minutes late", "waiting")
    for peer in (client, guest, clinician):
        seen = await peer.expect("chat-message")
        assert seen["text"] == "Running five minutes late"
        assert (seen["from"], seen["role"]) == (str(clinician_id), "clinician")
        assert seen["to"] == "waiting"

    # The client answers the clinician; the guest hears nothing of it, and may not write to the
    # client (nor learn that the client waits).
    await _chat(client, "No problem", clinician_id)
    assert (await clinician.expect("chat-message"))["text"] == "No problem"
    assert (await client.expect("chat-message"))["to"] == str(clinician_id)
    await _chat(guest, "Who else is here?", client_id)
    assert (await guest.expect("error"))["code"] == "not-admitted"
    await guest.nothing_more()
    await client.nothing_more()

    # In the call, the members chat with each other.
    await clinician.send({"type": "admit", "user_id": str(client_id)})
    await client.expect("joined")
    await clinician.expect("peer-joined")
    await clinician.expect("waiting-room")
    await _chat(client, "Can you see my screen?")
    assert (await clinician.expect("chat-message"))["from"] == str(client_id)
    assert (await client.expect("chat-message"))["to"] == "call"
    await _chat(client, "psst", guest_id)
    assert (await client.expect("error"))["code"] == "forbidden"
    await guest.nothing_more()

    # Nothing of it was recorded: the events are the same as a call without chat.
    assert not [e for e in await signaling.events(session_id) if "chat" in e.type]


async def test_a_too_long_chat_gets_the_documented_error_and_goes_nowhere(
    signaling: RunningSignaling,
) -> None:
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    await clinician.expect("waiting-room")

    await _chat(clinician, "x" * (MAX_CHAT_CHARACTERS + 1), "waiting")
    error = await clinician.expect("error")
    assert error["code"] == "invalid-message"
    assert "at most 2000 characters" in error["message"]
    await _chat(clinician, "", "waiting")
    assert (await clinician.expect("error"))["code"] == "invalid-message"
    await client.nothing_more()
    # 2,000 characters of the widest UTF-8 still fit one frame; the frame limit is the same
    # as for every other message (larger ones close the socket).
    widest = "😀" * MAX_CHAT_CHARACTERS
    await _chat(clinician, widest, "waiting")
    assert (await client.expect("chat-message"))["text"] == widest
    await clinician.expect("chat-message")
    await clinician.ws.send(json.dumps({"type": "chat", "text": "y" * 70_000, "to": "waiting"}))
    assert await clinician.closed_with() == 4413
    await client.nothing_more()


async def test_chat_counts_against_the_connections_rate_limit(
    start_signaling: StartSignaling,
) -> None:
    signaling = await start_signaling(rate_limit_per_second=1, rate_limit_burst=3)
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    await clinician.expect("waiting-room")
    for number in range(6):
        await _chat(client, f"hello {number}", clinician_id)
    answers = [await client.receive() for _ in range(6)]
    # The join took a token; what is left of the burst goes through, the rest is dropped.
    assert [a["type"] for a in answers].count("chat-message") == 2
    assert [a["code"] for a in answers if a["type"] == "error"] == ["too-fast"] * 4
    delivered = [await clinician.expect("chat-message") for _ in range(2)]
    assert [m["text"] for m in delivered] == ["hello 0", "hello 1"]
    await clinician.nothing_more()


async def test_chat_text_is_in_no_event_no_room_state_and_no_log_line(
    start_signaling: StartSignaling, capsys: pytest.CaptureFixture[str]
) -> None:
    # The service's own log handler (JSON on stderr, as in production), at its most verbose.
    signaling = await start_signaling(log_level="DEBUG")
    marker = f"chat-marker-{uuid.uuid4().hex}"
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    await clinician.expect("waiting-room")

    # Delivered, refused by the rules, too long, malformed: the text shows up only where it
    # was meant to.
    await _chat(clinician, f"waiting: {marker}", "waiting")
    await client.expect("chat-message")
    await clinician.expect("chat-message")
    await _chat(client, f"to the call: {marker}")
    assert (await client.expect("error"))["code"] == "not-admitted"
    await _chat(clinician, marker * 200, "waiting")
    error = await clinician.expect("error")
    assert marker not in error["message"]
    await clinician.ws.send(f'{{"type": "chat", "text": "{marker}", "to": "everyone"}}')
    assert marker not in (await clinician.expect("error"))["message"]
    await clinician.ws.send(f'{{"type": "chat", "text": "{marker}"')
    assert marker not in (await clinician.expect("error"))["message"]
    await clinician.send({"type": "admit", "user_id": str(client_id)})
    await client.expect("joined")
    await _chat(client, f"in the call: {marker}")
    await clinician.expect("peer-joined")
    await clinician.expect("waiting-room")
    assert marker in (await clinician.expect("chat-message"))["text"]
    await client.expect("chat-message")
    live: Signaling = signaling.app.state.signaling
    state = live.state_of(session_id)
    assert state is not None and marker not in state.model_dump_json()
    await clinician.send({"type": "end"})
    await client.expect("ended")

    logged = capsys.readouterr().err
    assert '"level": "DEBUG"' in logged, "nothing was logged: the scan would prove nothing"
    assert marker not in logged
    async with signaling.database.unit_of_work() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    assert {"rapport.signaling.session.ended.v1"} <= {
        decode(r.key, r.value, [(k, v.encode()) for k, v in r.headers]).type for r in rows
    }
    for row in rows:
        assert marker.encode() not in row.value
        assert all(marker not in value for _, value in row.headers)
