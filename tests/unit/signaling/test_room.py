"""The room's rules, without any I/O: who may come in, who is told what, which events happen."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from services.signaling.errors import (
    NotAdmitted,
    NotAllowed,
    NotJoined,
    NotYourSession,
    SessionOver,
    UnknownParticipant,
)
from services.signaling.room import Outcome, Room, Seat
from services.signaling.schemas import (
    ClinicianStatus,
    CloseCode,
    Declined,
    Ended,
    IceCandidate,
    Joined,
    Offer,
    PeerJoined,
    PeerLeft,
    RelayedIceCandidate,
    RelayedOffer,
    Waiting,
    WaitingRoom,
)
from shared.events.catalog import (
    CallConnected,
    ParticipantAdmitted,
    ParticipantCheckedIn,
    ParticipantJoined,
    ParticipantLeft,
    SessionEnded,
    SessionStarted,
)

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
CLINICIAN = uuid.UUID(int=1)
CLIENT = uuid.UUID(int=2)
SESSION = uuid.UUID(int=100)


def _room() -> Room:
    return Room(SESSION, clinician_id=CLINICIAN, client_id=CLIENT)


def _to(outcome: Outcome, connection: int) -> list[object]:
    return [message for target, message in outcome.messages if target == connection]


def _in_call(room: Room) -> tuple[Seat, Seat]:
    room.check_in(CLINICIAN, 1, "Dr. Lee", NOW)
    room.check_in(CLIENT, 2, "Sam", NOW)
    clinician, client = Seat(SESSION, CLINICIAN, 1), Seat(SESSION, CLIENT, 2)
    room.admit(clinician, CLIENT, NOW)
    return clinician, client


def test_a_client_waits_and_the_clinician_sees_them() -> None:
    room = _room()
    outcome = room.check_in(CLIENT, 2, "Sam", NOW)
    [waiting] = _to(outcome, 2)
    assert isinstance(waiting, Waiting) and waiting.resume_token
    assert waiting == Waiting(
        session_id=SESSION,
        clinician_status="offline",
        since=NOW,
        resume_token=waiting.resume_token,
    )
    assert outcome.events == [
        ParticipantCheckedIn(session_id=SESSION, user_id=CLIENT, role="client", at=NOW)
    ]

    outcome = room.check_in(CLINICIAN, 1, "Dr. Lee", NOW)
    [joined] = _to(outcome, 1)
    assert isinstance(joined, Joined)
    assert joined.polite is False and joined.peers == []
    assert [(w.user_id, w.display_name) for w in joined.waiting or []] == [(CLIENT, "Sam")]
    assert _to(outcome, 2) == [ClinicianStatus(status="online")]
    assert outcome.events == [
        ParticipantJoined(session_id=SESSION, user_id=CLINICIAN, role="clinician", at=NOW)
    ]


def test_only_the_roster_gets_in() -> None:
    room = _room()
    with pytest.raises(NotYourSession):
        room.check_in(uuid.uuid4(), 3, None, NOW)
    assert room.is_empty


def test_admitting_makes_the_client_a_polite_member() -> None:
    room = _room()
    room.check_in(CLINICIAN, 1, None, NOW)
    room.check_in(CLIENT, 2, None, NOW)
    outcome = room.admit(Seat(SESSION, CLINICIAN, 1), CLIENT, NOW)
    [joined] = _to(outcome, 2)
    assert isinstance(joined, Joined)
    assert joined.polite is True
    assert [p.user_id for p in joined.peers] == [CLINICIAN]
    assert joined.waiting is None  # clients never see the waiting room
    peer_joined, waiting_room = _to(outcome, 1)
    assert peer_joined == PeerJoined(peer=joined.you, polite=True)
    assert waiting_room == WaitingRoom(waiting=[])
    assert outcome.events == [
        ParticipantAdmitted(
            session_id=SESSION, user_id=CLIENT, role="client", at=NOW, admitted_by=CLINICIAN
        ),
        ParticipantJoined(session_id=SESSION, user_id=CLIENT, role="client", at=NOW),
        # The first admission starts the session.
        SessionStarted(session_id=SESSION, at=NOW),
    ]


def test_the_admitted_client_hears_joined_before_the_members_hear_peer_joined() -> None:
    # The clinician's page offers as soon as it hears peer-joined; the client's page sets up
    # its call when it hears joined. Written in this order, the offer (relayed later, on the
    # client's socket) can never overtake the client's joined.
    for admit_all in (False, True):
        room = _room()
        room.check_in(CLINICIAN, 1, None, NOW)
        room.check_in(CLIENT, 2, None, NOW)
        clinician = Seat(SESSION, CLINICIAN, 1)
        outcome = (
            room.admit_all(clinician, NOW) if admit_all else room.admit(clinician, CLIENT, NOW)
        )
        kinds = [(target, type(message)) for target, message in outcome.messages]
        assert kinds.index((2, Joined)) < kinds.index((1, PeerJoined)), kinds


def test_a_client_cannot_admit_decline_or_end() -> None:
    room = _room()
    room.check_in(CLIENT, 2, None, NOW)
    client = Seat(SESSION, CLIENT, 2)
    for change in (
        lambda: room.admit(client, CLIENT, NOW),
        lambda: room.decline(client, CLIENT, NOW),
        lambda: room.end(client, NOW),
    ):
        with pytest.raises(NotAllowed):
            change()
    assert not room.ended and len(room.participants) == 1


def test_admitting_someone_not_waiting_fails_without_changing_anything() -> None:
    room = _room()
    clinician, client = _in_call(room)
    with pytest.raises(UnknownParticipant):
        room.admit(clinician, CLIENT, NOW)  # already admitted
    with pytest.raises(UnknownParticipant):
        room.decline(clinician, uuid.uuid4(), NOW)


def test_declining_removes_and_closes_the_client() -> None:
    room = _room()
    room.check_in(CLINICIAN, 1, None, NOW)
    room.check_in(CLIENT, 2, None, NOW)
    outcome = room.decline(Seat(SESSION, CLINICIAN, 1), CLIENT, NOW)
    assert _to(outcome, 2) == [Declined()]
    assert [(c.connection, c.code) for c in outcome.closures] == [(2, CloseCode.FORBIDDEN)]
    assert _to(outcome, 1) == [WaitingRoom(waiting=[])]
    [left] = outcome.events
    assert isinstance(left, ParticipantLeft) and left.reason == "declined"
    assert [p.user_id for p in room.participants] == [CLINICIAN]


def test_relay_goes_to_the_other_members_with_from() -> None:
    room = _room()
    clinician, client = _in_call(room)
    outcome = room.relay(clinician, Offer(sdp="v=0"))
    assert outcome.messages == [(2, RelayedOffer(sdp="v=0", from_=CLINICIAN))]
    outcome = room.relay(client, IceCandidate(candidate=None, to=CLINICIAN))
    assert outcome.messages == [
        (1, RelayedIceCandidate(candidate=None, to=CLINICIAN, from_=CLIENT))
    ]


def test_waiting_clients_cannot_relay_or_be_relayed_to() -> None:
    room = _room()
    room.check_in(CLINICIAN, 1, None, NOW)
    room.check_in(CLIENT, 2, None, NOW)
    with pytest.raises(NotAdmitted):
        room.relay(Seat(SESSION, CLIENT, 2), Offer(sdp="v=0"))
    with pytest.raises(UnknownParticipant):
        room.relay(Seat(SESSION, CLINICIAN, 1), Offer(sdp="v=0", to=CLIENT))
    # Without a `to`, a lone clinician's offer simply reaches nobody.
    assert room.relay(Seat(SESSION, CLINICIAN, 1), Offer(sdp="v=0")).messages == []


def test_the_call_connects_once_when_clinician_and_client_report_it() -> None:
    room = _room()
    clinician, client = _in_call(room)
    assert room.report_connected(client, NOW).events == []
    assert room.report_connected(clinician, NOW).events == [
        CallConnected(session_id=SESSION, at=NOW)
    ]
    assert room.report_connected(client, NOW).events == []
    assert room.call_connected


def test_a_room_that_already_connected_does_not_connect_again() -> None:
    room = Room(SESSION, clinician_id=CLINICIAN, client_id=CLIENT, call_connected=True)
    clinician, client = _in_call(room)
    room.report_connected(clinician, NOW)
    assert room.report_connected(client, NOW).events == []


def test_a_newer_connection_replaces_the_older_one() -> None:
    room = _room()
    room.check_in(CLINICIAN, 1, None, NOW)
    room.check_in(CLIENT, 2, None, NOW)
    outcome = room.check_in(CLIENT, 3, None, NOW)
    assert [(c.connection, c.code) for c in outcome.closures] == [(2, CloseCode.REPLACED)]
    assert [type(e) for e in outcome.events] == [ParticipantLeft, ParticipantCheckedIn]
    [waiting] = _to(outcome, 3)
    assert isinstance(waiting, Waiting)
    assert (waiting.clinician_status, waiting.resumed) == ("online", None)
    # The stale connection can no longer act, and its drop changes nothing.
    with pytest.raises(NotJoined):
        room.relay(Seat(SESSION, CLIENT, 2), Offer(sdp="v=0"))
    assert room.leave(Seat(SESSION, CLIENT, 2), NOW) == Outcome()
    assert [p.connection for p in room.participants] == [1, 3]


def test_leaving_tells_members_and_waiting_clients() -> None:
    room = _room()
    clinician, client = _in_call(room)
    outcome = room.leave(client, NOW)
    assert _to(outcome, 1) == [PeerLeft(user_id=CLIENT)]
    assert [(c.connection, c.code) for c in outcome.closures] == [(2, CloseCode.NORMAL)]

    room.check_in(CLIENT, 4, None, NOW)
    outcome = room.leave(clinician, NOW)
    assert _to(outcome, 4) == [ClinicianStatus(status="offline")]
    [left] = outcome.events
    assert isinstance(left, ParticipantLeft) and left.reason == "left"


def test_ending_closes_everyone_and_keeps_the_room_shut() -> None:
    room = _room()
    clinician, _ = _in_call(room)
    outcome = room.end(clinician, NOW)
    assert _to(outcome, 1) == [Ended(reason="ended")] == _to(outcome, 2)
    assert {(c.connection, c.code) for c in outcome.closures} == {
        (1, CloseCode.SESSION_ENDED),
        (2, CloseCode.SESSION_ENDED),
    }
    assert [type(e) for e in outcome.events] == [ParticipantLeft, ParticipantLeft, SessionEnded]
    assert outcome.events[-1] == SessionEnded(
        session_id=SESSION, ended_by=CLINICIAN, reason="ended", at=NOW
    )
    assert room.is_empty
    with pytest.raises(SessionOver):
        room.check_in(CLIENT, 5, None, NOW)


def test_admit_all_admits_everyone_waiting() -> None:
    room = _room()
    room.check_in(CLINICIAN, 1, None, NOW)
    room.check_in(CLIENT, 2, None, NOW)
    outcome = room.admit_all(Seat(SESSION, CLINICIAN, 1), NOW)
    [joined] = _to(outcome, 2)
    assert isinstance(joined, Joined)
    assert _to(outcome, 1)[-1] == WaitingRoom(waiting=[])
    assert [type(e) for e in outcome.events] == [
        ParticipantAdmitted,
        ParticipantJoined,
        SessionStarted,
    ]
    with pytest.raises(NotAllowed):
        room.admit_all(Seat(SESSION, CLIENT, 2), NOW)


def test_send_back_moves_a_member_to_the_waiting_room() -> None:
    room = _room()
    clinician, client = _in_call(room)
    outcome = room.send_back(clinician, CLIENT, NOW)
    assert _to(outcome, 1)[0] == PeerLeft(user_id=CLIENT)
    assert [type(m).__name__ for m in _to(outcome, 2)] == ["SentBack"]
    assert outcome.events == [
        ParticipantLeft(
            session_id=SESSION, user_id=CLIENT, role="client", at=NOW, reason="sent-back"
        )
    ]
    with pytest.raises(NotAdmitted):
        room.relay(client, Offer(sdp="v=0"))
    with pytest.raises(UnknownParticipant):
        room.send_back(clinician, CLIENT, NOW)
    with pytest.raises(UnknownParticipant):
        room.send_back(clinician, CLINICIAN, NOW)


def test_a_dropped_member_resumes_without_events() -> None:
    room = _room()
    _, client = _in_call(room)
    outcome = room.drop(client, NOW)
    assert [type(m).__name__ for m in _to(outcome, 1)] == ["PeerReconnecting"]
    assert outcome.events == []
    assert room.awaits_resume(client)

    outcome = room.check_in(CLIENT, 3, None, NOW)
    [joined] = _to(outcome, 3)
    assert isinstance(joined, Joined) and joined.resumed is True
    assert [type(m).__name__ for m in _to(outcome, 1)] == ["PeerBack"]
    assert outcome.events == []
    assert outcome.closures == []
    # The old connection's expiry changes nothing now.
    assert room.expire(client, NOW) == Outcome()


def test_a_dropped_member_who_does_not_come_back_left_when_they_dropped() -> None:
    room = _room()
    _, client = _in_call(room)
    dropped = datetime(2026, 11, 25, 9, 5, tzinfo=UTC)
    room.drop(client, dropped)
    outcome = room.expire(client, datetime(2026, 11, 25, 9, 6, tzinfo=UTC))
    assert _to(outcome, 1) == [PeerLeft(user_id=CLIENT)]
    assert outcome.events == [
        ParticipantLeft(
            session_id=SESSION, user_id=CLIENT, role="client", at=dropped, reason="dropped"
        )
    ]


def test_a_waiting_client_who_drops_leaves_at_once() -> None:
    room = _room()
    room.check_in(CLINICIAN, 1, None, NOW)
    room.check_in(CLIENT, 2, None, NOW)
    outcome = room.drop(Seat(SESSION, CLIENT, 2), NOW)
    assert _to(outcome, 1) == [WaitingRoom(waiting=[])]
    [left] = outcome.events
    assert isinstance(left, ParticipantLeft) and left.reason == "dropped"


def test_sending_back_a_member_who_dropped_lets_them_leave() -> None:
    # Found by the state machine: a member within their grace period was sent back and kept
    # a place in the waiting room with no socket behind it.
    room = _room()
    clinician, client = _in_call(room)
    room.drop(client, NOW)
    outcome = room.send_back(clinician, CLIENT, NOW)
    assert [p.user_id for p in room.participants] == [CLINICIAN]
    assert outcome.messages == [(1, PeerLeft(user_id=CLIENT)), (1, WaitingRoom(waiting=[]))]
    [left] = outcome.events
    assert isinstance(left, ParticipantLeft) and left.reason == "sent-back"
    assert not room.awaits_resume(client)
