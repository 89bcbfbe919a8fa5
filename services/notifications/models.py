"""The notifications service's tables: the sent log, calendar entries and preferences."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import UtcDateTime, utc_now


class Kind(StrEnum):
    """What a notification says; the template and the rules follow from it."""

    APPOINTMENT_BOOKED = "appointment_booked"
    APPOINTMENT_RESCHEDULED = "appointment_rescheduled"
    APPOINTMENT_CANCELLED = "appointment_cancelled"
    APPOINTMENT_REMINDER = "appointment_reminder"
    INVITATION = "invitation"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a kind of message, not a secret
    SAFETY_ESCALATION = "safety_escalation"


class Status(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    # Gave up: a permanent SMTP refusal, or the retry schedule ran out.
    FAILED = "failed"
    # Nothing to send any more: the link was used, the account closed, the person opted out.
    SKIPPED = "skipped"


class Notification(SQLModel, table=True):
    """One message to one person about one event: the sent log.

    Written in the consumer's transaction together with the inbox id, and unique per event and
    recipient, so a redelivered event never makes a second one. ``data`` holds ids and times
    only; names, addresses and links are fetched when the message is rendered.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "recipient", name="uq_notifications_event_recipient"),
        Index("ix_notifications_due", "status", "next_attempt_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    event_id: str = Field(max_length=64)
    # Who it goes to: "user:<id>", "invitation:<id>" (no account yet) or "on-call:<clinic>".
    recipient: str = Field(max_length=120)
    user_id: uuid.UUID | None = Field(default=None, index=True)
    clinician_id: uuid.UUID | None = Field(default=None, index=True)
    kind: str = Field(max_length=40)
    channel: str = Field(default="email", max_length=20)
    # The appointment, reset request, invitation or flag the message is about.
    subject_id: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=Status.PENDING, max_length=20)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    # An SMTP reply code and error class, never an address or a message body.
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UtcDateTime)


class CalendarEntry(SQLModel, table=True):
    """An appointment as calendars know it: one UID for its life, a SEQUENCE per change."""

    __tablename__ = "calendar_entries"

    appointment_id: uuid.UUID = Field(primary_key=True)
    uid: str = Field(max_length=200)
    sequence: int = 0
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


class Preference(SQLModel, table=True):
    """What a person wants to hear: reminders (which lead times) and the language."""

    __tablename__ = "preferences"

    user_id: uuid.UUID = Field(primary_key=True)
    reminders: bool = True
    # The lead times (hours) the person wants reminders at; None: every one records sends.
    reminder_lead_hours: list[float] | None = Field(
        default=None, sa_column=Column(JSON, nullable=True)
    )
    language: str | None = Field(default=None, max_length=10)
    updated_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
