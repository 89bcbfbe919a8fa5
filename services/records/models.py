"""The records service's tables.

Every timestamp is a ``UtcDateTime`` (timezone-aware UTC). A session record is keyed by the
session id that signaling uses, so events and later additions (check-ins, notes, quality
samples) attach to it by that id.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Text
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, utc_now


class KnownUser(SQLModel, table=True):
    """Records' own copy of a registered user, built from ``UserRegistered`` events."""

    __tablename__ = "known_users"

    user_id: uuid.UUID = Field(primary_key=True)
    role: str = Field(max_length=20)
    registered_at: datetime = Field(sa_type=UtcDateTime)


class Appointment(SQLModel, table=True):
    """A booked time between a clinician and a client; each has exactly one session."""

    __tablename__ = "appointments"
    __table_args__ = (Index("ix_appointments_clinician_starts", "clinician_id", "starts_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    session_id: uuid.UUID = Field(unique=True)
    clinician_id: uuid.UUID
    client_id: uuid.UUID = Field(index=True)
    starts_at: datetime = Field(sa_type=UtcDateTime)
    ends_at: datetime = Field(sa_type=UtcDateTime)
    status: str = Field(default="booked", max_length=20)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class SessionRecord(SQLModel, table=True):
    """What happened in one session, as signaling reported it.

    ``completion_announced_at`` is set when ``SessionCompleted`` is queued in the outbox; it is
    what makes that event go out once however often ``SessionEnded`` arrives.
    """

    __tablename__ = "session_records"

    session_id: uuid.UUID = Field(primary_key=True)
    appointment_id: uuid.UUID = Field(foreign_key="appointments.id", unique=True)
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    status: str = Field(default="scheduled", max_length=20)
    checked_in_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    admitted_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    connected_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    duration_seconds: int | None = None
    outcome: str | None = Field(default=None, max_length=20)
    completion_announced_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class SessionAttendance(SQLModel, table=True):
    """One participant's presence in a session: first join, last leave."""

    __tablename__ = "session_attendance"

    session_id: uuid.UUID = Field(foreign_key="session_records.session_id", primary_key=True)
    user_id: uuid.UUID = Field(primary_key=True)
    role: str = Field(max_length=20)
    joined_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    left_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class Goal(SQLModel, table=True):
    """A goal a clinician set with a client. The statement is clinical text: never logged."""

    __tablename__ = "goals"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    clinician_id: uuid.UUID = Field(index=True)
    client_id: uuid.UUID = Field(index=True)
    statement: str = Field(sa_type=Text)
    status: str = Field(default="active", max_length=20)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class GoalUpdate(SQLModel, table=True):
    """Progress on a goal reported by its clinician or its client, maybe tied to a session."""

    __tablename__ = "goal_updates"
    __table_args__ = (
        CheckConstraint("progress BETWEEN 0 AND 10", name="ck_goal_updates_progress"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    goal_id: uuid.UUID = Field(foreign_key="goals.id", index=True)
    session_id: uuid.UUID | None = Field(
        default=None, foreign_key="session_records.session_id", index=True
    )
    author_id: uuid.UUID
    author_role: str = Field(max_length=20)
    progress: int
    note: str = Field(sa_type=Text)
    recorded_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class AuditEntry(SQLModel, table=True):
    """Who read or changed which clinical record, and when. Append-only; never clinical text.

    ``actor_id`` is empty when records itself changed a record on an event (``actor_role``
    is then ``system``).
    """

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_resource", "resource_type", "resource_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    actor_id: uuid.UUID | None = Field(default=None, index=True)
    actor_role: str = Field(max_length=20)
    action: str = Field(max_length=20)
    resource_type: str = Field(max_length=40)
    resource_id: str = Field(max_length=64)
