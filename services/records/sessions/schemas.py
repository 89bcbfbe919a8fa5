"""The session record and progress views (docs/contracts.md, "records")."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from services.records.schemas import GoalUpdateView, View
from shared.events.catalog import BillingAttendee, CallQualitySummary, GuestRelationship


class AttendeeView(View):
    user_id: uuid.UUID
    role: str
    joined_at: datetime | None
    left_at: datetime | None
    # A guest's relationship to the session (the clinician chose it when inviting them);
    # None for the clinician and the client.
    relationship: GuestRelationship | None = None


class SessionBilling(BaseModel):
    """A completed session's codes by the billing table (docs/billing.md), as in
    ``session.billing_ready``."""

    model_config = ConfigDict(extra="ignore")

    connected_seconds: int
    cpt_code: str | None
    group: bool
    place_of_service: str
    audio_only: bool | None
    attendees: list[BillingAttendee]


class SessionRecordView(View):
    session_id: uuid.UUID
    appointment_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    status: str
    checked_in_at: datetime | None
    admitted_at: datetime | None
    connected_at: datetime | None
    ended_at: datetime | None
    duration_seconds: int | None
    outcome: str | None
    attendees: list[AttendeeView]
    goal_updates: list[GoalUpdateView]
    # Connection quality over every participant's samples; None before the first sample.
    quality: CallQualitySummary | None = None
    # The codes billing was told, once a session is completed with both parties; else None.
    billing: SessionBilling | None = None


class PartyProgress(BaseModel):
    """One goal's progress in one session, as each side rated it (None: not rated)."""

    goal_id: uuid.UUID
    clinician: int | None
    client: int | None


class SessionProgress(BaseModel):
    session_id: uuid.UUID
    starts_at: datetime
    status: str
    goals: list[PartyProgress]
    outcome_total: int | None
    session_total: int | None
    flags: list[str]


class ProgressPage(BaseModel):
    items: list[SessionProgress]
    # Pass as ``offset`` for the next page; None on the last page.
    next_offset: int | None
