"""The records API's request and response bodies (docs/contracts.md, "records")."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

NOTE_MAX_LENGTH = 2000
STATEMENT_MAX_LENGTH = 1000

LifecycleStatus = Literal[
    "proposed", "accepted", "active", "on-hold", "completed", "cancelled", "entered-in-error"
]
AchievementStatus = Literal[
    "in-progress",
    "improving",
    "worsening",
    "no-change",
    "achieved",
    "sustaining",
    "not-achieved",
    "no-progress",
    "not-attainable",
]
Rating = Annotated[int, Field(ge=0, le=10, strict=True)]


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


class NewTimes(RequestBody):
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


class NewCareRelationship(RequestBody):
    client_id: uuid.UUID


class CareRelationshipView(View):
    id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    status: Literal["active", "ended"]
    started_via: str
    started_at: datetime
    ended_at: datetime | None
    plan_status: Literal["active", "ending", "completed"] = "active"
    ending_criteria: str | None = None


class NewGoal(RequestBody):
    """A goal proposal. A clinician names the client; a client names their clinician."""

    client_id: uuid.UUID | None = None
    clinician_id: uuid.UUID | None = None
    statement: str = Field(min_length=1, max_length=STATEMENT_MAX_LENGTH)
    target: str | None = Field(default=None, max_length=STATEMENT_MAX_LENGTH)
    due_date: date | None = None
    # The client's value this goal serves.
    value_id: uuid.UUID | None = None


class GoalView(View):
    id: uuid.UUID
    client_id: uuid.UUID
    clinician_id: uuid.UUID
    statement: str
    # FHIR Goal lifecycleStatus and achievementStatus codes.
    status: LifecycleStatus
    achievement_status: AchievementStatus | None
    proposed_by_role: str
    target: str | None
    due_date: date | None
    value_id: uuid.UUID | None = None
    agreed_by: list[str] = []


class GoalStatusChange(RequestBody):
    status: LifecycleStatus | None = None
    achievement_status: AchievementStatus | None = None


class NewGoalUpdate(RequestBody):
    session_id: uuid.UUID | None = None
    progress: int = Field(ge=0, le=10, strict=True)
    note: str = Field(max_length=NOTE_MAX_LENGTH)
    # Set to correct an earlier update of one's own: that one is marked entered in error.
    corrects_id: uuid.UUID | None = None


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


class NewOutcomeCheckIn(RequestBody):
    """How the past week went (the Outcome Rating Scale's structure), at session start."""

    kind: Literal["outcome"]
    individual: Rating
    interpersonal: Rating
    social: Rating
    overall: Rating

    def items(self) -> tuple[int, int, int, int]:
        return (self.individual, self.interpersonal, self.social, self.overall)


class NewSessionCheckIn(RequestBody):
    """How the session went (the Session Rating Scale's structure), at session end."""

    kind: Literal["session"]
    relationship: Rating
    goals_and_topics: Rating
    approach: Rating
    overall: Rating

    def items(self) -> tuple[int, int, int, int]:
        return (self.relationship, self.goals_and_topics, self.approach, self.overall)


NewCheckIn = Annotated[NewOutcomeCheckIn | NewSessionCheckIn, Field(discriminator="kind")]


class CheckInView(BaseModel):
    id: uuid.UUID
    session_id: uuid.UUID
    client_id: uuid.UUID
    clinician_id: uuid.UUID
    kind: Literal["outcome", "session"]
    items: dict[str, int]
    total: int
    flags: list[str]
    submitted_at: datetime


class NewNote(RequestBody):
    client_id: uuid.UUID
    session_id: uuid.UUID | None = None
    visibility: Literal["private", "shared"]
    text: str = Field(min_length=1, max_length=NOTE_MAX_LENGTH)


class NoteView(View):
    id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    session_id: uuid.UUID | None
    visibility: Literal["private", "shared"]
    text: str
    written_at: datetime


class AuditEntryView(View):
    id: int
    at: datetime
    actor_id: uuid.UUID | None
    actor_subject: str | None
    actor_role: str
    action: str
    resource_type: str
    resource_id: str
    origin: str | None
    reason: str | None
    prev_hash: str | None
    entry_hash: str | None


class PlanChange(RequestBody):
    """Set the ending criteria, and/or move the plan on (active -> ending -> completed)."""

    ending_criteria: str | None = Field(default=None, max_length=STATEMENT_MAX_LENGTH)
    plan_status: Literal["ending", "completed"] | None = None


class Readiness(BaseModel):
    """Whether the partnership looks ready for its planned end."""

    goals_total: int
    goals_achieved_or_sustaining: int
    recent_outcome_totals: list[int]
    recent_outcomes_above_cutoff: bool
    open_alliance_concern: bool
    ready: bool


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


class NewValue(RequestBody):
    statement: str = Field(min_length=1, max_length=STATEMENT_MAX_LENGTH)
    # Set to revise one of one's current values: the new entry supersedes it.
    supersedes_id: uuid.UUID | None = None


class ValueView(View):
    id: uuid.UUID
    client_id: uuid.UUID
    statement: str
    supersedes_id: uuid.UUID | None
    superseded_at: datetime | None
    created_at: datetime
