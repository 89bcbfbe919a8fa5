"""The records API's request and response bodies (docs/contracts.md, "records")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

NOTE_MAX_LENGTH = 2000
STATEMENT_MAX_LENGTH = 1000


class RequestBody(BaseModel):
    """Request bodies refuse unknown fields, so a typo is a 422 rather than silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class View(BaseModel):
    """Response bodies, read from table rows."""

    model_config = ConfigDict(from_attributes=True)


class NewAppointment(RequestBody):
    client_id: uuid.UUID
    # Aware datetimes only: a naive time means a different instant in every time zone.
    starts_at: AwareDatetime
    ends_at: AwareDatetime

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class AppointmentView(View):
    id: uuid.UUID
    session_id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    status: str


class NewGoal(RequestBody):
    client_id: uuid.UUID
    statement: str = Field(min_length=1, max_length=STATEMENT_MAX_LENGTH)


class GoalView(View):
    id: uuid.UUID
    client_id: uuid.UUID
    clinician_id: uuid.UUID
    statement: str
    status: str


class NewGoalUpdate(RequestBody):
    session_id: uuid.UUID | None = None
    progress: int = Field(ge=0, le=10, strict=True)
    note: str = Field(max_length=NOTE_MAX_LENGTH)


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
