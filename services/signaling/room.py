"""A live room: its waiting room, the members of the call, and what each change tells whom.

Pure and I/O-free. Every change checks its rule first (raising before it touches anything),
then changes the room and returns an :class:`Outcome`: the protocol messages to send, by
connection id; the connections to close; and the events that happened. The WebSocket edge
delivers the messages, the service writes the events to the outbox.

Connections are plain ids handed out by the edge, so the room never holds a socket; a
participant's connection id also tells a stale connection (replaced by a newer one of the
same user) from the current one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel

from services.signaling.errors import (
    NotAdmitted,
    NotAllowed,
    NotJoined,
    NotYourSession,
    RoomFull,
    SessionOver,
    UnknownParticipant,
)
from services.signaling.schemas import (
    Chat,
    ChatMessage,
    ClinicianStatus,
    CloseCode,
    Declined,
    Ended,
    GoalUpdated,
    Joined,
    ParticipantRole,
    Peer,
    PeerBack,
    PeerJoined,
    PeerLeft,
    PeerReconnecting,
    PresenceStatus,
    RelayMessage,
    SentBack,
    ServerMessage,
    SettablePresence,
    Stats,
    Waiting,
    WaitingClient,
    WaitingRoom,
    relayed,
)
from shared.events.catalog import (
    CallConnected,
    CallQuality,
    GoalProgressShared,
    ParticipantAdmitted,
    ParticipantCheckedIn,
    ParticipantJoined,
    ParticipantLeft,
    Payload,
    SessionEnded,
    SessionStarted,
)
from shared.events.reasons import EndReason, LeaveReason

ConnectionId = int

# The connection of a participant whose room was rebuilt by another process: no socket has
# it (the edge hands out ids from 1), so nothing is sent to it until they come back.
DETACHED: ConnectionId = 0


def digest(resume_token: str) -> str:
    return hashlib.sha256(resume_token.encode()).hexdigest()


class ParticipantState(BaseModel):
    """A participant as written to the rooms topic (no connection: sockets do not move)."""

    user_id: uuid.UUID
    role: ParticipantRole
    display_name: str | None
    since: datetime
    admitted: bool
    dropped_at: datetime | None
    presence: PresenceStatus
    family_id: uuid.UUID | None
    resume_digest: str | None
    sampled_at: datetime | None = None
    # Detached because the room moved (not because their socket dropped).
    moved: bool = False


class RoomState(BaseModel):
    """Everything a room is, written on every change so that the next owner rebuilds it."""

    session_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    roster: dict[uuid.UUID, ParticipantRole]
    max_participants: int
    call_connected: bool
    started: bool
    ended: bool
    emptied_at: datetime | None
    # In arrival order: the waiting room's order is the order of `since`, ties by this one.
    participants: list[ParticipantState]


@dataclass(frozen=True, slots=True)
class Seat:
    """The place one connection holds: which user, in which session's room."""

    session_id: uuid.UUID
    user_id: uuid.UUID
    connection: ConnectionId


@dataclass(slots=True)
class Participant:
    """Someone in the room: waiting to be admitted, or a member of the call."""

    user_id: uuid.UUID
    role: ParticipantRole
    display_name: str | None
    since: datetime
    connection: ConnectionId
    admitted: bool = False
    # Their peer connection is up (they sent ``connected``).
    connected: bool = False
    # Their socket dropped at this time; they may resume until the grace period ends.
    dropped_at: datetime | None = None
    # When their last connection-quality sample was kept.
    sampled_at: datetime | None = None
    # The clinician's own status for waiting clients ("online" or "away").
    presence: PresenceStatus = "online"
    # The sign-in (refresh-token family) their join token came from: its logout ends their
    # place here, and no other sign-in's.
    family_id: uuid.UUID | None = None
    # SHA-256 of the resume token handed to them on arrival (the token itself is kept
    # nowhere: the room's state is written to Kafka).
    resume_digest: str | None = None
    # Detached only because the room moved to this process (their socket did not drop).
    moved: bool = False

    @property
    def peer(self) -> Peer:
        return Peer(user_id=self.user_id, role=self.role)

    @property
    def polite(self) -> bool:
        # Perfect negotiation: the clinician is the impolite peer and makes the offers; every
        # other member is polite towards the clinician (see polite_towards for other pairs).
        return self.role != "clinician"


def polite_towards(one: Participant, other: Participant) -> bool:
    """Whether ``one`` is the polite peer of the pair (``one``, ``other``) in perfect
    negotiation. Defined pairwise so that every pair has exactly one impolite side, which
    makes the offer: the clinician is impolite towards everyone; between two other members,
    the one whose user id is smaller (as a lowercase UUID string) is impolite. Both sides know
    both ids, so neither needs to be told."""
    if one.role == "clinician":
        return False
    if other.role == "clinician":
        return True
    return str(one.user_id) > str(other.user_id)


@dataclass(frozen=True, slots=True)
class Closure:
    """A connection the edge must close, and how."""

    connection: ConnectionId
    code: CloseCode
    reason: str


@dataclass(slots=True)
class Outcome:
    """What a change of the room means for the world outside it."""

    messages: list[tuple[ConnectionId, ServerMessage]] = field(default_factory=list)
    closures: list[Closure] = field(default_factory=list)
    events: list[Payload] = field(default_factory=list)

    def send(self, connection: ConnectionId, message: ServerMessage) -> None:
        self.messages.append((connection, message))

    def close(self, connection: ConnectionId, code: CloseCode, reason: str) -> None:
        self.closures.append(Closure(connection, code, reason))

    def record(self, event: Payload) -> None:
        self.events.append(event)


class Room:
    """One session's live room. Its roster (who may come in) comes from the appointment."""

    def __init__(
        self,
        session_id: uuid.UUID,
        *,
        clinician_id: uuid.UUID,
        client_id: uuid.UUID,
        invited: Iterable[uuid.UUID] = (),
        max_participants: int = 2,
        call_connected: bool = False,
        started: bool = False,
    ) -> None:
        self.session_id = session_id
        self._client_id = client_id
        # Invited participants (an interpreter, a family member) are guests: they wait and are
        # admitted like the client. The clinician and client keep their roles if also invited.
        self._roster: dict[uuid.UUID, ParticipantRole] = dict.fromkeys(invited, "guest")
        self._roster[client_id] = "client"
        self._roster[clinician_id] = "clinician"
        # How many may be members of the call at once, the clinician included.
        self.max_participants = max(2, max_participants)
        self._participants: dict[uuid.UUID, Participant] = {}
        self.clinician_id = clinician_id
        # Whether this session's clinician is in another session's room right now (the
        # registry knows; a room on its own does not).
        self.clinician_elsewhere: Callable[[], bool] = lambda: False
        # CallConnected is recorded once per session, even across a room's restarts.
        self.call_connected = call_connected
        # SessionStarted is recorded at the first admission, once per session.
        self.started = started
        self.ended = False
        # When the last participant of a started session left (None while anyone is here);
        # the session ends if nobody comes back within the empty-room timeout.
        self.emptied_at: datetime | None = None

    @property
    def is_empty(self) -> bool:
        return not self._participants

    def snapshot(self) -> RoomState:
        """The room as the next owner needs it (see :meth:`restore`)."""
        return RoomState(
            session_id=self.session_id,
            clinician_id=self.clinician_id,
            client_id=self._client_id,
            roster=self._roster,
            max_participants=self.max_participants,
            call_connected=self.call_connected,
            started=self.started,
            ended=self.ended,
            emptied_at=self.emptied_at,
            participants=[
                ParticipantState(
                    user_id=p.user_id,
                    role=p.role,
                    display_name=p.display_name,
                    since=p.since,
                    admitted=p.admitted,
                    dropped_at=p.dropped_at,
                    presence=p.presence,
                    family_id=p.family_id,
                    resume_digest=p.resume_digest,
                    sampled_at=p.sampled_at,
                    moved=p.moved,
                )
                for p in self._participants.values()
            ],
        )

    @classmethod
    def restore(cls, state: RoomState, now: datetime) -> Room:
        """Rebuild a room another process held. Nobody's socket came along: every
        participant is detached, as if their socket had dropped at ``now`` (or when it
        really dropped), and comes back with ``join`` (waiting ones with ``resume``)."""
        room = cls(
            state.session_id,
            clinician_id=state.clinician_id,
            client_id=state.client_id,
            max_participants=state.max_participants,
            call_connected=state.call_connected,
            started=state.started,
        )
        room._roster = dict(state.roster)
        room.ended = state.ended
        room.emptied_at = state.emptied_at
        for saved in state.participants:
            # A move is not the participant's doing: their grace period starts again.
            moved = saved.moved or saved.dropped_at is None
            participant = Participant(
                saved.user_id,
                saved.role,
                saved.display_name,
                saved.since,
                DETACHED,
                admitted=saved.admitted,
                dropped_at=now if moved else saved.dropped_at,
                moved=moved,
                sampled_at=saved.sampled_at,
                presence=saved.presence,
                family_id=saved.family_id,
                resume_digest=saved.resume_digest,
            )
            room._participants[saved.user_id] = participant
        return room

    @property
    def participants(self) -> list[Participant]:
        return list(self._participants.values())

    def awaits_resume(self, seat: Seat) -> bool:
        """Whether the participant at ``seat`` dropped and is still within the grace period."""
        participant = self._participants.get(seat.user_id)
        return (
            participant is not None
            and participant.connection == seat.connection
            and participant.dropped_at is not None
        )

    def update_invited(self, invited: Iterable[uuid.UUID], max_participants: int) -> None:
        """Bring the roster's guests and the call's size up to date with the session's (a
        guest invited or revoked while the room was open). A revoked guest still here is
        taken out by :meth:`revoke`; this only decides who may come in from now on."""
        invited = set(invited)
        for user_id, role in list(self._roster.items()):
            if role == "guest" and user_id not in invited:
                del self._roster[user_id]
        for user_id in invited:
            self._roster.setdefault(user_id, "guest")
        self.max_participants = max(2, max_participants)

    def role_of(self, user_id: uuid.UUID) -> ParticipantRole | None:
        """The role ``user_id`` has in this session, or None if they are not part of it."""
        return self._roster.get(user_id)

    def check_in(
        self,
        user_id: uuid.UUID,
        connection: ConnectionId,
        display_name: str | None,
        now: datetime,
        *,
        family_id: uuid.UUID | None = None,
        resume: str | None = None,
    ) -> Outcome:
        """A participant arrives: the clinician joins the call, a client enters the waiting room.

        A user already here on another connection is replaced: the older connection leaves
        (and is closed with 4010) before the newer one arrives. ``family_id`` is the sign-in
        their token came from. A member whose socket dropped (or whose room moved here from
        another process) comes back into the call; someone waiting whose room moved comes
        back to the same place in the queue when ``resume`` is their resume token.
        """
        if self.ended:
            raise SessionOver()
        role = self.role_of(user_id)
        if role is None:
            raise NotYourSession()
        outcome = Outcome()
        self.emptied_at = None
        previous = self._participants.get(user_id)
        if previous is not None and previous.dropped_at is not None:
            if previous.admitted:
                self._resume(previous, connection, display_name, outcome)
                previous.family_id = family_id
                return outcome
            if (
                resume is not None
                and previous.resume_digest is not None
                and (hmac.compare_digest(previous.resume_digest, digest(resume)))
            ):
                self._resume_waiting(previous, connection, display_name, outcome)
                previous.family_id = family_id
                return outcome
        if previous is not None:
            self._depart(previous, now, outcome, LeaveReason.REPLACED)
            outcome.close(previous.connection, CloseCode.REPLACED, "replaced by a newer connection")
        arriving = Participant(user_id, role, display_name, now, connection, family_id=family_id)
        resume_token = secrets.token_urlsafe(24)
        arriving.resume_digest = digest(resume_token)
        self._participants[user_id] = arriving
        if role == "clinician":
            self._clinician_joins(arriving, now, outcome, resume_token)
        else:
            self._client_waits(arriving, now, outcome, resume_token)
        return outcome

    def _resume_waiting(
        self,
        participant: Participant,
        connection: ConnectionId,
        display_name: str | None,
        outcome: Outcome,
    ) -> None:
        # Back in the same place of the queue (their `since` is unchanged): no event.
        participant.connection = connection
        participant.dropped_at = None
        participant.moved = False
        if display_name is not None:
            participant.display_name = display_name
        outcome.send(
            connection,
            Waiting(
                session_id=self.session_id,
                clinician_status=self._clinician_status(),
                since=participant.since,
                resumed=True,
            ),
        )
        clinician = self._clinician()
        if clinician is not None:
            outcome.send(clinician.connection, WaitingRoom(waiting=self._waiting_list()))

    def _resume(
        self,
        participant: Participant,
        connection: ConnectionId,
        display_name: str | None,
        outcome: Outcome,
    ) -> None:
        # Still a member: no event, no waiting room; only the others hear that they are back.
        moved, participant.moved = participant.moved, False
        participant.connection = connection
        participant.dropped_at = None
        participant.connected = False
        if display_name is not None:
            participant.display_name = display_name
        members = [m for m in self._members() if m is not participant]
        outcome.send(
            connection,
            Joined(
                session_id=self.session_id,
                you=participant.peer,
                peers=[m.peer for m in members],
                polite=participant.polite,
                waiting=self._waiting_list() if participant.role == "clinician" else None,
                resumed=True,
            ),
        )
        for member in members:
            outcome.send(
                member.connection, PeerBack(user_id=participant.user_id, moved=moved or None)
            )

    def _clinician_joins(
        self, clinician: Participant, now: datetime, outcome: Outcome, resume_token: str
    ) -> None:
        clinician.admitted = True
        members = [m for m in self._members() if m is not clinician]
        outcome.send(
            clinician.connection,
            Joined(
                session_id=self.session_id,
                you=clinician.peer,
                peers=[m.peer for m in members],
                polite=clinician.polite,
                waiting=self._waiting_list(),
                resume_token=resume_token,
            ),
        )
        for member in members:
            outcome.send(member.connection, PeerJoined(peer=clinician.peer, polite=False))
        for waiting in self._waiting():
            outcome.send(waiting.connection, ClinicianStatus(status="online"))
        outcome.record(self._participant_event(ParticipantJoined, clinician, now))

    def _client_waits(
        self, client: Participant, now: datetime, outcome: Outcome, resume_token: str
    ) -> None:
        clinician = self._clinician()
        outcome.send(
            client.connection,
            Waiting(
                session_id=self.session_id,
                clinician_status=self._clinician_status(),
                since=client.since,
                resume_token=resume_token,
            ),
        )
        if clinician is not None:
            outcome.send(clinician.connection, WaitingRoom(waiting=self._waiting_list()))
        outcome.record(self._participant_event(ParticipantCheckedIn, client, now))

    def admit(self, seat: Seat, user_id: uuid.UUID, now: datetime) -> Outcome:
        """The clinician lets a waiting client into the call."""
        clinician = self._acting(seat)
        if clinician.role != "clinician":
            raise NotAllowed("only the clinician may admit")
        client = self._waiting_one(user_id)
        if self._seats_left() < 1:
            raise RoomFull(f"the call already has {self.max_participants} participants")
        outcome = Outcome()
        self._admit(clinician, client, now, outcome)
        outcome.send(clinician.connection, WaitingRoom(waiting=self._waiting_list()))
        return outcome

    def admit_all(self, seat: Seat, now: datetime) -> Outcome:
        """The clinician lets everyone waiting into the call, longest-waiting first."""
        clinician = self._acting(seat)
        if clinician.role != "clinician":
            raise NotAllowed("only the clinician may admit")
        outcome = Outcome()
        # Longest-waiting first, as many as the call has room for; the rest keep waiting.
        waiting = sorted(self._waiting(), key=lambda p: p.since)[: self._seats_left()]
        for client in waiting:
            self._admit(clinician, client, now, outcome)
        outcome.send(clinician.connection, WaitingRoom(waiting=self._waiting_list()))
        return outcome

    def send_back(self, seat: Seat, user_id: uuid.UUID, now: datetime) -> Outcome:
        """The clinician moves a client from the call back to the waiting room."""
        clinician = self._acting(seat)
        if clinician.role != "clinician":
            raise NotAllowed("only the clinician may send a client back")
        client = self._participants.get(user_id)
        if client is None or not client.admitted or client.role == "clinician":
            raise UnknownParticipant(f"{user_id} is not a client in this call")
        outcome = Outcome()
        if client.dropped_at is not None:
            # Their socket is gone: in the waiting room they would have nothing to wait on
            # (someone waiting who drops leaves at once), so they leave now; a later join
            # arrives in the waiting room like any other.
            self._depart(client, now, outcome, LeaveReason.SENT_BACK)
            outcome.send(clinician.connection, WaitingRoom(waiting=self._waiting_list()))
            return outcome
        client.admitted = False
        client.connected = False
        client.since = now
        for member in self._members():
            outcome.send(member.connection, PeerLeft(user_id=client.user_id))
        outcome.send(
            client.connection,
            SentBack(session_id=self.session_id, clinician_status=self._clinician_status()),
        )
        outcome.send(clinician.connection, WaitingRoom(waiting=self._waiting_list()))
        outcome.record(self._left(client, now, LeaveReason.SENT_BACK))
        return outcome

    def _admit(
        self, clinician: Participant, client: Participant, now: datetime, outcome: Outcome
    ) -> None:
        client.admitted = True
        members = [m for m in self._members() if m is not client]
        # The client hears `joined` before anyone hears `peer-joined`: the impolite member
        # offers on `peer-joined`, and its offer, relayed on the client's socket after this
        # `joined`, then always finds the client's call set up.
        outcome.send(
            client.connection,
            Joined(
                session_id=self.session_id,
                you=client.peer,
                peers=[m.peer for m in members],
                polite=client.polite,
            ),
        )
        for member in members:
            outcome.send(
                member.connection,
                PeerJoined(peer=client.peer, polite=polite_towards(client, member)),
            )
        outcome.record(
            ParticipantAdmitted(
                session_id=self.session_id,
                user_id=client.user_id,
                role=client.role,
                at=now,
                admitted_by=clinician.user_id,
            )
        )
        outcome.record(self._participant_event(ParticipantJoined, client, now))
        if not self.started:
            self.started = True
            outcome.record(SessionStarted(session_id=self.session_id, at=now))

    def decline(self, seat: Seat, user_id: uuid.UUID, now: datetime) -> Outcome:
        """The clinician turns a waiting client away."""
        clinician = self._acting(seat)
        if clinician.role != "clinician":
            raise NotAllowed("only the clinician may decline")
        client = self._waiting_one(user_id)
        outcome = Outcome()
        del self._participants[client.user_id]
        outcome.send(client.connection, Declined())
        outcome.close(client.connection, CloseCode.FORBIDDEN, LeaveReason.DECLINED)
        outcome.send(clinician.connection, WaitingRoom(waiting=self._waiting_list()))
        outcome.record(self._left(client, now, LeaveReason.DECLINED))
        return outcome

    def relay(self, seat: Seat, message: RelayMessage) -> Outcome:
        """Forward an offer, answer or ICE candidate to the other members (or to ``to``)."""
        sender = self._acting(seat)
        if not sender.admitted:
            raise NotAdmitted("wait until the clinician admits you")
        if message.to is None:
            recipients = [m for m in self._members() if m is not sender]
        else:
            target = self._participants.get(message.to)
            if target is None or not target.admitted or target is sender:
                raise UnknownParticipant(f"{message.to} is not another member of this call")
            recipients = [target]
        forwarded = relayed(message, sender.user_id)
        return Outcome(messages=[(r.connection, forwarded) for r in recipients])

    def chat(self, seat: Seat, message: Chat, now: datetime) -> Outcome:
        """Pass a chat message on to whom it is for (and back to its sender). Nothing of it is
        recorded or kept in the room: chat is ephemeral.

        The clinician writes to anyone in the room, to the call or to everyone waiting. A
        member writes to the call or to another member, never to someone waiting (only the
        clinician speaks to the waiting room). Someone waiting writes only to the clinician:
        whoever else waits stays unknown to them, so they are refused before any lookup.
        """
        sender = self._acting(seat)
        to = message.to
        recipients: list[Participant]
        if to == "waiting":
            if sender.role != "clinician":
                raise NotAllowed("only the clinician writes to the waiting room")
            recipients = self._waiting()
        elif to == "call":
            if not sender.admitted:
                raise NotAdmitted("until the clinician admits you, write to the clinician only")
            recipients = [m for m in self._members() if m is not sender]
        else:
            if not sender.admitted and to != self.clinician_id:
                raise NotAdmitted("until the clinician admits you, write to the clinician only")
            target = self._participants.get(to)
            if target is None or target is sender or target.dropped_at is not None:
                raise UnknownParticipant(f"{to} is not someone else here right now")
            if sender.role != "clinician" and sender.admitted and not target.admitted:
                raise NotAllowed("only the clinician writes to someone waiting")
            recipients = [target]
        relayed_chat = ChatMessage(
            text=message.text, to=to, from_=sender.user_id, role=sender.role, at=now
        )
        outcome = Outcome()
        for recipient in [*recipients, sender]:
            if recipient.dropped_at is None:
                outcome.send(recipient.connection, relayed_chat)
        return outcome

    def report_connected(self, seat: Seat, now: datetime) -> Outcome:
        """A member's peer connection is up; the call is connected once the clinician's and a
        client's both are."""
        member = self._acting(seat)
        if not member.admitted:
            raise NotAdmitted("wait until the clinician admits you")
        member.connected = True
        outcome = Outcome()
        if not self.call_connected:
            connected = [m for m in self._members() if m.connected]
            if {m.role for m in connected} >= {"clinician", "client"}:
                self.call_connected = True
                outcome.record(CallConnected(session_id=self.session_id, at=now))
        return outcome

    def share_goal_progress(
        self,
        seat: Seat,
        *,
        goal_id: uuid.UUID,
        progress: int,
        goal_update_id: uuid.UUID,
        now: datetime,
    ) -> Outcome:
        """The clinician pushes progress on a goal: every member sees it, records stores it."""
        clinician = self._acting(seat)
        if clinician.role != "clinician":
            raise NotAllowed("only the clinician may update a goal")
        outcome = Outcome()
        update = GoalUpdated(
            goal_update_id=goal_update_id,
            goal_id=goal_id,
            progress=progress,
            from_=clinician.user_id,
            at=now,
        )
        for member in self._members():
            outcome.send(member.connection, update)
        outcome.record(
            GoalProgressShared(
                goal_update_id=goal_update_id,
                goal_id=goal_id,
                session_id=self.session_id,
                clinician_id=clinician.user_id,
                client_id=self._client_id,
                progress=progress,
                at=now,
            )
        )
        return outcome

    def report_stats(
        self, seat: Seat, stats: Stats, now: datetime, *, interval: timedelta
    ) -> Outcome:
        """A member's connection stats: kept as a quality sample at most once per interval."""
        member = self._acting(seat)
        if not member.admitted:
            raise NotAdmitted("wait until the clinician admits you")
        outcome = Outcome()
        if member.sampled_at is not None and now - member.sampled_at < interval:
            return outcome
        member.sampled_at = now
        outcome.record(
            CallQuality(
                session_id=self.session_id,
                user_id=member.user_id,
                role=member.role,
                round_trip_ms=stats.round_trip_ms,
                packet_loss=stats.packet_loss,
                jitter_ms=stats.jitter_ms,
                bitrate_kbps=stats.bitrate_kbps,
                video_frames_decoded=stats.video_frames_decoded,
                at=now,
            )
        )
        return outcome

    def leave(self, seat: Seat, now: datetime) -> Outcome:
        """A participant leaves (or their socket dropped). A stale connection changes nothing."""
        participant = self._participants.get(seat.user_id)
        if participant is None or participant.connection != seat.connection:
            return Outcome()
        outcome = Outcome()
        self._depart(participant, now, outcome, LeaveReason.LEFT)
        outcome.close(seat.connection, CloseCode.NORMAL, LeaveReason.LEFT)
        return outcome

    def revoke(
        self,
        user_id: uuid.UUID,
        now: datetime,
        *,
        family_id: uuid.UUID | None = None,
    ) -> Outcome:
        """Identity revoked ``user_id``'s tokens: they leave at once (no grace period, even if
        their socket had dropped) and their connection is closed with 4401. With
        ``family_id`` (one sign-in logged out), only a participant who joined with that
        sign-in's token leaves: the same user here from another device stays."""
        participant = self._participants.get(user_id)
        if participant is None:
            return Outcome()
        if family_id is not None and participant.family_id != family_id:
            return Outcome()
        outcome = Outcome()
        self._depart(participant, now, outcome, LeaveReason.REVOKED)
        if participant.dropped_at is None:
            outcome.close(participant.connection, CloseCode.REVOKED, LeaveReason.REVOKED)
        return outcome

    def drop(self, seat: Seat, now: datetime) -> Outcome:
        """The participant's socket went away without ``leave``.

        A member of the call keeps their place for the grace period (the others hear
        ``peer-reconnecting``); :meth:`expire` ends it. Someone waiting simply leaves.
        """
        participant = self._participants.get(seat.user_id)
        if participant is None or participant.connection != seat.connection:
            return Outcome()
        outcome = Outcome()
        if not participant.admitted:
            self._depart(participant, now, outcome, LeaveReason.DROPPED)
            return outcome
        participant.dropped_at = now
        participant.connected = False
        for member in self._members():
            if member is not participant and member.dropped_at is None:
                outcome.send(member.connection, PeerReconnecting(user_id=participant.user_id))
        return outcome

    def expire(self, seat: Seat, now: datetime) -> Outcome:
        """The grace period of a dropped member is over: if they are not back, they left
        (at the time they dropped)."""
        participant = self._participants.get(seat.user_id)
        if (
            participant is None
            or participant.connection != seat.connection
            or participant.dropped_at is None
        ):
            return Outcome()
        outcome = Outcome()
        self._depart(participant, participant.dropped_at, outcome, LeaveReason.DROPPED)
        return outcome

    def end(self, seat: Seat, now: datetime) -> Outcome:
        """The clinician ends the session: everyone is told and disconnected, for good."""
        clinician = self._acting(seat)
        if clinician.role != "clinician":
            raise NotAllowed("only the clinician may end the session")
        outcome = Outcome()
        for participant in self._participants.values():
            outcome.send(participant.connection, Ended(reason="ended"))
            outcome.close(participant.connection, CloseCode.SESSION_ENDED, "session ended")
            outcome.record(self._left(participant, now, LeaveReason.SESSION_ENDED))
        self._participants.clear()
        self.ended = True
        outcome.record(
            SessionEnded(
                session_id=self.session_id,
                ended_by=clinician.user_id,
                reason=EndReason.ENDED,
                at=now,
            )
        )
        return outcome

    def end_empty(self) -> Outcome:
        """Nobody came back within the empty-room timeout: the session ends, ended by no one,
        at the time the last participant left. Nothing happens if someone is here."""
        outcome = Outcome()
        if self._participants or self.ended or self.emptied_at is None:
            return outcome
        self.ended = True
        outcome.record(
            SessionEnded(
                session_id=self.session_id,
                ended_by=None,
                reason=EndReason.EMPTY_ROOM_TIMEOUT,
                at=self.emptied_at,
            )
        )
        return outcome

    def _depart(
        self, participant: Participant, now: datetime, outcome: Outcome, reason: LeaveReason
    ) -> None:
        del self._participants[participant.user_id]
        if participant.admitted:
            for member in self._members():
                outcome.send(member.connection, PeerLeft(user_id=participant.user_id))
        if participant.role == "clinician":
            for waiting in self._waiting():
                outcome.send(waiting.connection, ClinicianStatus(status="offline"))
        elif not participant.admitted:
            clinician = self._clinician()
            if clinician is not None:
                outcome.send(clinician.connection, WaitingRoom(waiting=self._waiting_list()))
        outcome.record(self._left(participant, now, reason))

    def _acting(self, seat: Seat) -> Participant:
        participant = self._participants.get(seat.user_id)
        if participant is None or participant.connection != seat.connection:
            raise NotJoined("this connection is no longer in the room")
        return participant

    def _waiting_one(self, user_id: uuid.UUID) -> Participant:
        participant = self._participants.get(user_id)
        if participant is None or participant.admitted:
            raise UnknownParticipant(f"{user_id} is not in the waiting room")
        return participant

    def _seats_left(self) -> int:
        # Members who dropped keep their seat for the grace period.
        return self.max_participants - len(self._members())

    def _members(self) -> list[Participant]:
        return [p for p in self._participants.values() if p.admitted]

    def _waiting(self) -> list[Participant]:
        return [p for p in self._participants.values() if not p.admitted]

    def _waiting_list(self) -> list[WaitingClient]:
        return [
            WaitingClient(
                user_id=p.user_id, role=p.role, display_name=p.display_name, since=p.since
            )
            for p in self._waiting()
        ]

    def set_presence(self, seat: Seat, status: SettablePresence) -> Outcome:
        """The clinician sets the status waiting clients see."""
        clinician = self._acting(seat)
        if clinician.role != "clinician":
            raise NotAllowed("only the clinician sets their presence")
        outcome = Outcome()
        if clinician.presence != status:
            clinician.presence = status
            for waiting in self._waiting():
                outcome.send(waiting.connection, ClinicianStatus(status=status))
        return outcome

    def _clinician_status(self) -> PresenceStatus:
        clinician = self._clinician()
        if clinician is not None and clinician.dropped_at is None:
            return clinician.presence
        if self.clinician_elsewhere():
            return "in-another-session"
        return "offline"

    def _clinician(self) -> Participant | None:
        for participant in self._participants.values():
            if participant.role == "clinician":
                return participant
        return None

    def _left(self, participant: Participant, now: datetime, reason: LeaveReason) -> Payload:
        return ParticipantLeft(
            session_id=self.session_id,
            user_id=participant.user_id,
            role=participant.role,
            at=now,
            reason=reason,
        )

    def _participant_event(
        self,
        event: type[ParticipantCheckedIn] | type[ParticipantJoined],
        participant: Participant,
        now: datetime,
    ) -> Payload:
        return event(
            session_id=self.session_id, user_id=participant.user_id, role=participant.role, at=now
        )
