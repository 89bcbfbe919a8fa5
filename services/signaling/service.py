"""Signaling's use cases: joining a room, admitting, relaying, leaving, ending; and keeping the
access projection from appointment events.

The rules live in :mod:`services.signaling.room`; a use case finds the room, lets it change,
writes what happened to the outbox in the caller's unit of work, and hands the resulting
:class:`~services.signaling.room.Outcome` back for delivery. It never commits: the WebSocket
edge (or the event consumer) owns the unit of work and delivers only after the commit.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.signaling import repository
from services.signaling.errors import (
    ConsentRequired,
    NotJoined,
    SessionCancelled,
    SessionOver,
    TooEarly,
    TooLate,
    UnknownSession,
)
from services.signaling.ice_servers import IceServerDirectory
from services.signaling.registry import RoomRegistry
from services.signaling.room import ConnectionId, Outcome, Room, RoomState, Seat
from services.signaling.schemas import (
    Chat,
    HeldRoom,
    HeldRooms,
    IceServers,
    RelayMessage,
    SettablePresence,
    Stats,
)
from shared.db import utc_now
from shared.errors import Unauthorized
from shared.events.catalog import (
    AppointmentCancelled,
    AppointmentRescheduled,
    AppointmentScheduled,
    CallConnected,
    ConsentDocumentPublished,
    ConsentSigned,
    ConsentWithdrawn,
    SessionGuestInvited,
    SessionGuestRevoked,
    SessionStarted,
)
from shared.events.outbox import add_event
from shared.tokens import Principal

SOURCE = "/rapport/signaling"

log = logging.getLogger(__name__)


class Signaling:
    """The live rooms of this process and what participants can do in them."""

    def __init__(
        self,
        rooms: RoomRegistry,
        *,
        ice_servers: IceServerDirectory | None = None,
        quality_sample_interval: timedelta = timedelta(seconds=10),
        opens_before: timedelta = timedelta(minutes=15),
        closes_after: timedelta = timedelta(minutes=30),
        clock: Callable[[], datetime] = utc_now,
        consent_required: bool = True,
    ) -> None:
        self._rooms = rooms
        # The session's client must have signed the clinic's current consent to join.
        self._consent_required = consent_required
        self._quality_sample_interval = quality_sample_interval
        # The join window: from opens_before the start to closes_after the end.
        self._opens_before = opens_before
        self._closes_after = closes_after
        self._ice_servers = ice_servers or IceServerDirectory()
        self._clock = clock

    def ice_servers(self, user_id: uuid.UUID) -> IceServers:
        """The STUN/TURN servers for ``user_id``, with fresh time-limited TURN credentials."""
        return self._ice_servers.for_user(user_id, self._clock())

    def exclusive(self, session_id: uuid.UUID) -> AbstractAsyncContextManager[None]:
        """Take the room's turn for a change (see :meth:`RoomRegistry.exclusive`)."""
        return self._rooms.exclusive(session_id)

    async def join(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        connection: ConnectionId,
        display_name: str | None,
        resume: str | None = None,
    ) -> tuple[Seat, Outcome]:
        """Seat a verified signaling token's user in their session's room.

        Raises UnknownSession, SessionOver, SessionCancelled, TooEarly, TooLate,
        ConsentRequired or NotYourSession (each closes the socket), or Unauthorized for a
        token that names no session.
        """
        if principal.session_id is None:
            raise Unauthorized("a signaling token must name its session (sid)")
        session_id = principal.session_id
        access = await repository.get_access(session, session_id)
        if access is None:
            raise UnknownSession()
        if access.ended_at is not None:
            raise SessionOver()
        if access.cancelled_at is not None:
            raise SessionCancelled()
        now = self._clock()
        if now < access.starts_at - self._opens_before:
            raise TooEarly()
        if now > access.ends_at + self._closes_after:
            raise TooLate()
        user_id = principal.user_id
        if user_id == access.client_id and self._consent_required:
            await self._require_consent(session, user_id)
        room = self._rooms.get(session_id)
        if room is None:
            room = Room(
                session_id,
                clinician_id=access.clinician_id,
                client_id=access.client_id,
                invited=access.invited,
                max_participants=access.capacity,
                call_connected=access.call_connected_at is not None,
                started=access.started_at is not None,
            )
            self._watch_clinician(room)
        else:
            # Guests invited or revoked since the room opened (in this process or another).
            room.update_invited(access.invited, access.capacity)
        outcome = room.check_in(
            user_id, connection, display_name, now, family_id=principal.family_id, resume=resume
        )
        self._rooms.add(room)
        self._record(session, outcome)
        return Seat(session_id, user_id, connection), outcome

    @staticmethod
    async def _require_consent(session: AsyncSession, client_id: uuid.UUID) -> None:
        """The client's latest signature is of the current version (or a later one, whose
        publication has not reached signaling yet) and not withdrawn. While the clinic has
        published no consent there is nothing to sign, and nobody is held."""
        current = await repository.current_consent_version(session)
        if current is None:
            return
        consent = await repository.get_client_consent(session, client_id)
        if consent is None or consent.withdrawn_at is not None or consent.version < current:
            raise ConsentRequired()

    def _watch_clinician(self, room: Room) -> None:
        clinician_id, session_id = room.clinician_id, room.session_id
        room.clinician_elsewhere = lambda: self._clinician_elsewhere(clinician_id, session_id)

    def state_of(self, session_id: uuid.UUID) -> RoomState | None:
        """The live room's state as the next owner would rebuild it; None without a room."""
        room = self._rooms.get(session_id)
        return room.snapshot() if room is not None else None

    def adopt(self, state: RoomState) -> Room:
        """Rebuild a room another process held (everyone in it detached until they rejoin)."""
        room = Room.restore(state, self._clock())
        self._watch_clinician(room)
        self._rooms.add(room)
        return room

    def rooms(self) -> list[Room]:
        return list(self._rooms.rooms())

    def forget(self, session_id: uuid.UUID) -> Room | None:
        """Let go of a room another process now owns (nothing is recorded: it lives on)."""
        room = self._rooms.get(session_id)
        self._rooms.remove(session_id)
        return room

    def relay(self, seat: Seat, message: RelayMessage) -> Outcome:
        """Forward an offer, answer or ICE candidate. The hot path: no database."""
        return self._room_of(seat).relay(seat, message)

    def chat(self, seat: Seat, message: Chat) -> Outcome:
        """Pass a chat message on. Like a relay: no database, no event, nothing kept."""
        return self._room_of(seat).chat(seat, message, self._clock())

    async def admit(self, session: AsyncSession, seat: Seat, user_id: uuid.UUID) -> Outcome:
        """The clinician at ``seat`` admits a waiting client."""
        outcome = self._room_of(seat).admit(seat, user_id, self._clock())
        await self._record_start(session, seat.session_id, outcome)
        self._record(session, outcome)
        return outcome

    @staticmethod
    async def _record_start(session: AsyncSession, session_id: uuid.UUID, outcome: Outcome) -> None:
        for event in outcome.events:
            if isinstance(event, SessionStarted):
                await repository.mark_started(session, session_id, event.at)

    async def admit_all(self, session: AsyncSession, seat: Seat) -> Outcome:
        """The clinician at ``seat`` admits everyone waiting."""
        outcome = self._room_of(seat).admit_all(seat, self._clock())
        await self._record_start(session, seat.session_id, outcome)
        self._record(session, outcome)
        return outcome

    async def send_back(self, session: AsyncSession, seat: Seat, user_id: uuid.UUID) -> Outcome:
        """The clinician at ``seat`` moves a client back to the waiting room."""
        outcome = self._room_of(seat).send_back(seat, user_id, self._clock())
        self._record(session, outcome)
        return outcome

    async def drop(self, session: AsyncSession, seat: Seat) -> Outcome:
        """The socket at ``seat`` went away without ``leave``: a member may resume within the
        grace period (see :meth:`expire`), someone waiting leaves."""
        room = self._rooms.get(seat.session_id)
        if room is None:
            return Outcome()
        outcome = room.drop(seat, self._clock())
        self._settle(room)
        self._record(session, outcome)
        return outcome

    async def expire(self, session: AsyncSession, seat: Seat) -> Outcome:
        """The grace period of the dropped member at ``seat`` is over; unless back, they left."""
        room = self._rooms.get(seat.session_id)
        if room is None:
            return Outcome()
        outcome = room.expire(seat, self._clock())
        self._settle(room)
        self._record(session, outcome)
        return outcome

    def _settle(self, room: Room) -> None:
        """Forget a room nobody is in any more, unless its session is under way: then it stays
        (empty) until :meth:`end_if_empty`, so that coming back continues the same session."""
        if not room.is_empty:
            return
        if room.started and not room.ended:
            if room.emptied_at is None:
                room.emptied_at = self._clock()
            return
        self._rooms.remove(room.session_id)

    def emptied_at(self, session_id: uuid.UUID) -> datetime | None:
        """When everyone had left the room of ``session_id`` (None if someone is there)."""
        room = self._rooms.get(session_id)
        return room.emptied_at if room is not None else None

    async def end_if_empty(
        self, session: AsyncSession, session_id: uuid.UUID, emptied_at: datetime
    ) -> Outcome:
        """The empty-room timeout since ``emptied_at`` is over: if nobody came back since, the
        session ends (``session.ended``, reason ``empty-room timeout``, ended by no one)."""
        room = self._rooms.get(session_id)
        if room is None or room.emptied_at != emptied_at:
            return Outcome()
        outcome = room.end_empty()
        self._rooms.remove(session_id)
        await repository.mark_ended(session, session_id, at=emptied_at, ended_by=None)
        self._record(session, outcome)
        return outcome

    async def share_goal_progress(
        self, session: AsyncSession, seat: Seat, goal_id: uuid.UUID, progress: int
    ) -> Outcome:
        """The clinician at ``seat`` pushes progress on a goal to the call and to records."""
        outcome = self._room_of(seat).share_goal_progress(
            seat, goal_id=goal_id, progress=progress, goal_update_id=uuid.uuid4(), now=self._clock()
        )
        self._record(session, outcome)
        return outcome

    async def report_stats(self, session: AsyncSession, seat: Seat, stats: Stats) -> Outcome:
        """A member's connection stats become a quality sample (one per sampling interval)."""
        outcome = self._room_of(seat).report_stats(
            seat, stats, self._clock(), interval=self._quality_sample_interval
        )
        self._record(session, outcome)
        return outcome

    async def decline(self, session: AsyncSession, seat: Seat, user_id: uuid.UUID) -> Outcome:
        """The clinician at ``seat`` declines a waiting client."""
        outcome = self._room_of(seat).decline(seat, user_id, self._clock())
        self._record(session, outcome)
        return outcome

    async def report_connected(self, session: AsyncSession, seat: Seat) -> Outcome:
        """A member's peer connection is up; records CallConnected once per session."""
        now = self._clock()
        outcome = self._room_of(seat).report_connected(seat, now)
        if any(isinstance(event, CallConnected) for event in outcome.events):
            await repository.mark_call_connected(session, seat.session_id, now)
        self._record(session, outcome)
        return outcome

    async def leave(self, session: AsyncSession, seat: Seat) -> Outcome:
        """The participant at ``seat`` leaves or dropped; nothing happens if already gone."""
        room = self._rooms.get(seat.session_id)
        if room is None:
            return Outcome()
        outcome = room.leave(seat, self._clock())
        self._settle(room)
        self._record(session, outcome)
        return outcome

    async def end(self, session: AsyncSession, seat: Seat) -> Outcome:
        """The clinician at ``seat`` ends the session for everyone, for good."""
        room = self._room_of(seat)
        now = self._clock()
        outcome = room.end(seat, now)
        self._rooms.remove(seat.session_id)
        await repository.mark_ended(session, seat.session_id, at=now, ended_by=seat.user_id)
        self._record(session, outcome)
        return outcome

    def held_rooms(self) -> HeldRooms:
        """Which rooms this process holds, and how many participants each has."""
        return HeldRooms(
            rooms=[
                HeldRoom(session_id=room.session_id, participants=len(room.participants))
                for room in self._rooms.rooms()
            ]
        )

    def rooms_of(self, user_id: uuid.UUID) -> list[uuid.UUID]:
        """The sessions whose live room in this process holds ``user_id`` (waiting, in the
        call, or dropped within the grace period)."""
        return [
            room.session_id
            for room in self._rooms.rooms()
            if any(p.user_id == user_id for p in room.participants)
        ]

    async def revoke(
        self,
        session: AsyncSession,
        *,
        room: uuid.UUID,
        user_id: uuid.UUID,
        family_id: uuid.UUID | None = None,
    ) -> Outcome:
        """Identity revoked ``user_id``'s tokens (with ``family_id``: one sign-in's): they
        leave the room of session ``room`` at once."""
        live = self._rooms.get(room)
        if live is None:
            return Outcome()
        outcome = live.revoke(user_id, self._clock(), family_id=family_id)
        self._settle(live)
        self._record(session, outcome)
        return outcome

    async def set_presence(self, _: AsyncSession, seat: Seat, status: SettablePresence) -> Outcome:
        """The clinician at ``seat`` sets the status waiting clients see (no event)."""
        return self._room_of(seat).set_presence(seat, status)

    def _clinician_elsewhere(self, clinician_id: uuid.UUID, session_id: uuid.UUID) -> bool:
        # Rooms of other sessions in this process; with several processes, only local ones.
        return any(
            room.session_id != session_id
            and room.clinician_id == clinician_id
            and any(p.user_id == clinician_id for p in room.participants)
            for room in self._rooms.rooms()
        )

    def awaits_resume(self, seat: Seat) -> bool:
        """Whether the participant at ``seat`` dropped and may still resume."""
        room = self._rooms.get(seat.session_id)
        return room is not None and room.awaits_resume(seat)

    def _room_of(self, seat: Seat) -> Room:
        room = self._rooms.get(seat.session_id)
        if room is None:
            raise NotJoined("this connection is no longer in a room")
        return room

    @staticmethod
    def _record(session: AsyncSession, outcome: Outcome) -> None:
        for event in outcome.events:
            add_event(session, event, source=SOURCE)


async def record_appointment(
    session: AsyncSession, event: AppointmentScheduled | AppointmentRescheduled
) -> None:
    """Project a scheduled (or rescheduled) appointment: its clinician, its client and its
    invited participants may join its session, within its (new) time slot."""
    await repository.save_access(
        session,
        session_id=event.session_id,
        appointment_id=event.appointment_id,
        clinician_id=event.clinician_id,
        client_id=event.client_id,
        starts_at=event.starts_at,
        ends_at=event.ends_at,
        # Read with defaults: events written before these fields existed still project.
        max_participants=getattr(event, "max_participants", 2),
        invited_participant_ids=getattr(event, "invited_participant_ids", ()),
    )


async def record_cancellation(session: AsyncSession, event: AppointmentCancelled) -> None:
    """A cancelled appointment's session is closed to joins (a room already open stays as it
    is: records only cancels appointments that have not started)."""
    await repository.mark_cancelled(session, event.session_id, event.at)


async def record_guest_invited(session: AsyncSession, event: SessionGuestInvited) -> None:
    """A guest link's guest may join its session, if the session's own clinician invited them
    (identity vouches for who asked, not for whose session it is)."""
    accepted = await repository.add_guest(
        session, event.session_id, event.clinician_id, event.guest_id
    )
    if not accepted:
        log.warning(
            "ignoring a guest invited to a session that is unknown or not the inviter's",
            extra={"session_id": str(event.session_id), "guest_id": str(event.guest_id)},
        )


async def record_guest_revoked(session: AsyncSession, event: SessionGuestRevoked) -> None:
    """A revoked guest may not join any more (every process's revocation follower takes a
    guest still in the room out of it)."""
    await repository.remove_guest(session, event.session_id, event.guest_id)


async def record_consent_version(session: AsyncSession, event: ConsentDocumentPublished) -> None:
    """A new consent version: from now on a client must have signed it (or a later one)."""
    await repository.save_consent_version(session, event.document_id, event.version)


async def record_consent(session: AsyncSession, event: ConsentSigned | ConsentWithdrawn) -> None:
    """A client's latest signature, or its withdrawal (which holds their joins again)."""
    await repository.save_client_consent(
        session,
        client_id=event.client_id,
        signature_id=event.signature_id,
        version=event.version,
        withdrawn_at=event.at if isinstance(event, ConsentWithdrawn) else None,
    )
