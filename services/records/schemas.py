"""The records API's request and response bodies (docs/contracts.md, "records")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

from shared.events.catalog import CallQualitySummary

NOTE_MAX_LENGTH = 2000
STATEMENT_MAX_LENGTH = 1000


def _json_number(value: object) -> object:
    # A rating is a JSON number: 7 or 7.0 (the same integer to JSON Schema), never "7" or true.
    if isinstance(value, bool | str):
        raise ValueError("must be a number")
    return value


Rating = Annotated[int, Field(ge=0, le=10), BeforeValidator(_json_number)]


class RequestBody(BaseModel):
    """Request bodies refuse unknown fields, so a typo is a 422 rather than silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class View(BaseModel):
    """Response bodies, read from table rows."""

    model_config = ConfigDict(from_attributes=True)


class GoalUpdateView(View):
    id: uuid.UUID
    goal_id: uuid.UUID
    session_id: uuid.UUID | None
    author_id: uuid.UUID
    author_role: str
    progress: int
    # None when the reader may not see it (a client reading the clinician's note).
    note: str | None
    recorded_at: datetime
    corrects_id: uuid.UUID | None = None
    entered_in_error: bool = False


class AttendeeView(View):
    user_id: uuid.UUID
    role: str
    joined_at: datetime | None
    left_at: datetime | None


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
