"""A hypothesis state machine drives two rooms through joins, admissions, declines, sending
back, relays, drops, resumes, expiries, revocations, leaves and ends, and checks after every
step that

- no one outside the call (waiting, declined, gone) receives media signaling,
- no message of one room reaches a connection of the other,
- every participant's state is consistent (one live connection each, the clinician always in
  the call, only members dropped-and-resumable, the room's view matching the model's).
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from services.signaling.errors import JoinRefused, MessageRefused
from services.signaling.room import Outcome, Room, Seat
from services.signaling.schemas import (
    Answer,
    GoalUpdated,
    IceCandidate,
    Joined,
    Offer,
    PeerJoined,
    RelayedAnswer,
    RelayedIceCandidate,
    RelayedOffer,
    Stats,
)

MEDIA = (Joined, PeerJoined, RelayedOffer, RelayedAnswer, RelayedIceCandidate, GoalUpdated)
ROOMS = ("a", "b")
ROLES = ("clinician", "client")


class TwoRooms(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
        self.ids = itertools.count(1)
        self.users = {(room, role): uuid.uuid4() for room in ROOMS for role in ROLES}
        self.rooms = {
            room: Room(
                uuid.uuid4(),
                clinician_id=self.users[(room, "clinician")],
                client_id=self.users[(room, "client")],
            )
            for room in ROOMS
        }
        # Every connection id ever handed to each room, and each user's latest one.
        self.connections: dict[str, set[int]] = {room: set() for room in ROOMS}
        self.latest: dict[tuple[str, str], int] = {}

    # helpers ---------------------------------------------------------------------------------

    def _tick(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now

    def _seat(self, room: str, role: str) -> Seat | None:
        connection = self.latest.get((room, role))
        if connection is None:
            return None
        return Seat(self.rooms[room].session_id, self.users[(room, role)], connection)

    def _check(self, room: str, outcome: Outcome) -> None:
        other = next(r for r in ROOMS if r != room)
        participants = {p.connection: p for p in self.rooms[room].participants}
        for target, message in outcome.messages:
            assert target not in self.connections[other], "a message crossed rooms"
            assert target in self.connections[room]
            if isinstance(message, MEDIA):
                member = participants.get(target)
                assert member is not None and member.admitted, (
                    f"{type(message).__name__} reached someone outside the call"
                )
        for event in outcome.events:
            assert event.session_id == self.rooms[room].session_id  # type: ignore[attr-defined]

    def _attempt(self, room: str, change: object) -> None:
        try:
            outcome = change()  # type: ignore[operator]
        except (MessageRefused, JoinRefused):
            return
        self._check(room, outcome)

    # rules -----------------------------------------------------------------------------------

    @rule(room=st.sampled_from(ROOMS), role=st.sampled_from(ROLES))
    def join(self, room: str, role: str) -> None:
        connection = next(self.ids)
        self.connections[room].add(connection)
        try:
            outcome = self.rooms[room].check_in(
                self.users[(room, role)], connection, role.title(), self._tick()
            )
        except JoinRefused:
            assert self.rooms[room].ended
            return
        self.latest[(room, role)] = connection
        self._check(room, outcome)

    @rule(room=st.sampled_from(ROOMS), everyone=st.booleans())
    def admit(self, room: str, everyone: bool) -> None:
        seat = self._seat(room, "clinician")
        if seat is None:
            return
        r = self.rooms[room]
        client = self.users[(room, "client")]
        if everyone:
            self._attempt(room, lambda: r.admit_all(seat, self._tick()))
        else:
            self._attempt(room, lambda: r.admit(seat, client, self._tick()))

    @rule(room=st.sampled_from(ROOMS), acting=st.sampled_from(ROLES))
    def decline(self, room: str, acting: str) -> None:
        seat = self._seat(room, acting)
        if seat is not None:
            r = self.rooms[room]
            client = self.users[(room, "client")]
            self._attempt(room, lambda: r.decline(seat, client, self._tick()))

    @rule(room=st.sampled_from(ROOMS), acting=st.sampled_from(ROLES))
    def send_back(self, room: str, acting: str) -> None:
        seat = self._seat(room, acting)
        if seat is not None:
            r = self.rooms[room]
            client = self.users[(room, "client")]
            self._attempt(room, lambda: r.send_back(seat, client, self._tick()))

    @rule(
        room=st.sampled_from(ROOMS),
        role=st.sampled_from(ROLES),
        kind=st.sampled_from(("offer", "answer", "ice")),
    )
    def relay(self, room: str, role: str, kind: str) -> None:
        seat = self._seat(room, role)
        if seat is None:
            return
        message = {
            "offer": Offer(sdp="v=0"),
            "answer": Answer(sdp="v=0"),
            "ice": IceCandidate(candidate=None),
        }[kind]
        r = self.rooms[room]
        sender = next((p for p in r.participants if p.connection == seat.connection), None)
        try:
            outcome = r.relay(seat, message)
        except MessageRefused:
            return
        assert sender is not None and sender.admitted, "a waiting participant relayed"
        self._check(room, outcome)
        assert seat.connection not in [target for target, _ in outcome.messages]

    @rule(room=st.sampled_from(ROOMS), role=st.sampled_from(ROLES))
    def in_call_reports(self, room: str, role: str) -> None:
        seat = self._seat(room, role)
        if seat is None:
            return
        r = self.rooms[room]
        self._attempt(room, lambda: r.report_connected(seat, self._tick()))
        self._attempt(
            room, lambda: r.report_stats(seat, Stats(), self._tick(), interval=timedelta(0))
        )
        self._attempt(
            room,
            lambda: r.share_goal_progress(
                seat,
                goal_id=uuid.uuid4(),
                progress=5,
                goal_update_id=uuid.uuid4(),
                now=self._tick(),
            ),
        )

    @rule(room=st.sampled_from(ROOMS), role=st.sampled_from(ROLES))
    def leave(self, room: str, role: str) -> None:
        seat = self._seat(room, role)
        if seat is not None:
            r = self.rooms[room]
            self._attempt(room, lambda: r.leave(seat, self._tick()))

    @rule(room=st.sampled_from(ROOMS), role=st.sampled_from(ROLES))
    def drop(self, room: str, role: str) -> None:
        seat = self._seat(room, role)
        if seat is not None:
            r = self.rooms[room]
            self._attempt(room, lambda: r.drop(seat, self._tick()))

    @rule(room=st.sampled_from(ROOMS), role=st.sampled_from(ROLES))
    def grace_period_ends(self, room: str, role: str) -> None:
        seat = self._seat(room, role)
        if seat is not None:
            r = self.rooms[room]
            self._attempt(room, lambda: r.expire(seat, self._tick()))

    @rule(room=st.sampled_from(ROOMS), role=st.sampled_from(ROLES))
    def revoke(self, room: str, role: str) -> None:
        # Identity revoked the user's tokens: gone at once, whatever they were doing.
        r = self.rooms[room]
        user = self.users[(room, role)]
        outcome = r.revoke(user, self._tick())
        self._check(room, outcome)
        assert user not in [p.user_id for p in r.participants]

    @rule(room=st.sampled_from(ROOMS), acting=st.sampled_from(ROLES))
    def end(self, room: str, acting: str) -> None:
        seat = self._seat(room, acting)
        if seat is not None:
            r = self.rooms[room]
            self._attempt(room, lambda: r.end(seat, self._tick()))

    # invariants ------------------------------------------------------------------------------

    @invariant()
    def participants_are_consistent(self) -> None:
        for name, room in self.rooms.items():
            participants = room.participants
            connections = [p.connection for p in participants]
            assert len(set(connections)) == len(connections), "two participants share a socket"
            assert room.is_empty == (not participants)
            if room.ended:
                assert not participants
            for p in participants:
                role = "clinician" if p.user_id == self.users[(name, "clinician")] else "client"
                assert p.role == role
                assert p.connection in self.connections[name]
                # A participant's connection is the latest that user opened in this room.
                assert p.connection == self.latest[(name, role)]
                if p.role == "clinician":
                    assert p.admitted, "the clinician is always in the call"
                if p.dropped_at is not None:
                    assert p.admitted, "only members keep a place after a drop"
                if not p.admitted:
                    assert not p.connected


TestTwoRooms = TwoRooms.TestCase
TestTwoRooms.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
