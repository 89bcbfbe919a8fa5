"""Signaling's tables: who may join which session (projected from appointment events), and
the two facts about a session that must outlive a process restart."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime


class SessionAccess(SQLModel, table=True):
    """One session's roster and time slot, as ``appointment.scheduled`` (and
    ``appointment.rescheduled``) described it.

    Built from records' events, never read from records' database. ``started_at``,
    ``call_connected_at`` and ``ended_at`` are signaling's own: a session starts and its call
    is reported connected once per session, and an ended session refuses joins, even after a
    restart.
    """

    __tablename__ = "session_access"

    session_id: uuid.UUID = Field(primary_key=True)
    appointment_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    starts_at: datetime = Field(sa_type=UtcDateTime)
    ends_at: datetime = Field(sa_type=UtcDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    call_connected_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    ended_by: uuid.UUID | None = None
    # Set by ``appointment.cancelled``: the session will not happen, so joins are refused.
    cancelled_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    # Who may be in the call at once (clinician and client included), and who else the
    # appointment invited (an interpreter, a family member), as UUID strings.
    max_participants: int = 2
    invited_participant_ids: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )

    # Guests without accounts the clinician invited by guest link (``session.guest_invited``),
    # as UUID strings; a revoked guest is taken off. Kept apart from the appointment's
    # invitees, which every reschedule rewrites.
    guest_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))

    @property
    def invited(self) -> frozenset[uuid.UUID]:
        """Everyone besides the clinician and the client who may join: the appointment's
        invited participants and the clinician's guests."""
        return frozenset(
            uuid.UUID(value) for value in [*self.invited_participant_ids, *self.guest_ids]
        )

    @property
    def capacity(self) -> int:
        """Who may be in the call at once: the appointment's number, and a seat per guest."""
        return self.max_participants + len(self.guest_ids)


class ConsentVersion(SQLModel, table=True):
    """A version of the clinic's telehealth consent, as ``consent.document_published`` named
    it: the highest is the one clients must have signed."""

    __tablename__ = "consent_versions"

    document_id: uuid.UUID = Field(primary_key=True)
    version: int = Field(index=True)


class ClientConsent(SQLModel, table=True):
    """A client's latest consent signature, as ``consent.signed`` and ``consent.withdrawn``
    described it: ids and the version only (records keeps the rest)."""

    __tablename__ = "client_consents"

    client_id: uuid.UUID = Field(primary_key=True)
    signature_id: uuid.UUID
    version: int
    withdrawn_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
