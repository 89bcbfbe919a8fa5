"""Signaling's use cases: joining a room, admitting, relaying, leaving, ending; and keeping the
access projection from appointment events.

The rules live in :mod:`services.signaling.room`; a use case finds the room, lets it change,
writes what happened to the outbox in the caller's unit of work, and hands the resulting
:class:`~services.signaling.room.Outcome` back for delivery. It never commits: the WebSocket
edge (or the event consumer) owns the unit of work and delivers only after the commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.signaling import repository
from services.signaling.errors import NotJoined, SessionOver, UnknownSession
from services.signaling.registry import RoomRegistry
from services.signaling.room import ConnectionId, Outcome, Room, Seat
from services.signaling.schemas import RelayMessage
from shared.db import utc_now
from shared.errors import Unauthorized
from shared.events.catalog import AppointmentScheduled, CallConnected
from shared.events.outbox import add_event
from shared.tokens import Principal

SOURCE = "/rapport/signaling"


class Signaling:
    """The live rooms of this process and what participants can do in them."""

    def __init__(self, rooms: RoomRegistry, *, clock: Callable[[], datetime] = utc_now) -> None:
        self._rooms = rooms
        self._clock = clock

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
    ) -> tuple[Seat, Outcome]:
        """Seat a verified signaling token's user in their session's room.

        Raises UnknownSession, SessionOver or NotYourSession (each closes the socket), or
        Unauthorized for a token that names no session.
        """
        if principal.session_id is None:
            raise Unauthorized("a signaling token must name its session (sid)")
        session_id = principal.session_id
        access = await repository.get_access(session, session_id)
        if access is None:
            raise UnknownSession()
        if access.ended_at is not None:
            raise SessionOver()
        user_id = principal.user_id
        room = self._rooms.get(session_id)
        if room is None:
            room = Room(
                session_id,
                clinician_id=access.clinician_id,
                client_id=access.client_id,
                call_connected=access.call_connected_at is not None,
            )
        outcome = room.check_in(user_id, connection, display_name, self._clock())
        self._rooms.add(room)
        self._record(session, outcome)
        return Seat(session_id, user_id, connection), outcome

    def relay(self, seat: Seat, message: RelayMessage) -> Outcome:
        """Forward an offer, answer or ICE candidate. The hot path: no database."""
        return self._room_of(seat).relay(seat, message)

    async def admit(self, session: AsyncSession, seat: Seat, user_id: uuid.UUID) -> Outcome:
        """The clinician at ``seat`` admits a waiting client."""
        outcome = self._room_of(seat).admit(seat, user_id, self._clock())
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
        if room.is_empty:
            self._rooms.remove(seat.session_id)
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

    def _room_of(self, seat: Seat) -> Room:
        room = self._rooms.get(seat.session_id)
        if room is None:
            raise NotJoined("this connection is no longer in a room")
        return room

    @staticmethod
    def _record(session: AsyncSession, outcome: Outcome) -> None:
        for event in outcome.events:
            add_event(session, event, source=SOURCE)


async def record_appointment(session: AsyncSession, appointment: AppointmentScheduled) -> None:
    """Project a scheduled appointment: its clinician and client may join its session."""
    await repository.save_access(
        session,
        session_id=appointment.session_id,
        appointment_id=appointment.appointment_id,
        clinician_id=appointment.clinician_id,
        client_id=appointment.client_id,
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
    )
