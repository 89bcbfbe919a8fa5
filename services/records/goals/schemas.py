"""What goal requests carry, and how a goal is shown (a goal's updates: ``GoalUpdateView``,
shared with the session record, is the root schemas')."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Literal

from pydantic import Field

from services.records.schemas import (
    NON_BLANK,
    NOTE_MAX_LENGTH,
    STATEMENT_MAX_LENGTH,
    Rating,
    RequestBody,
    View,
)
from shared.time_formats import IsoDate

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


class NewGoal(RequestBody):
    """A goal proposal. A clinician names the client; a client names their clinician."""

    client_id: uuid.UUID | None = None
    clinician_id: uuid.UUID | None = None
    statement: str = Field(min_length=1, max_length=STATEMENT_MAX_LENGTH, pattern=NON_BLANK)
    target: str | None = Field(default=None, max_length=STATEMENT_MAX_LENGTH)
    due_date: IsoDate | None = None
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
    progress: Rating
    note: str = Field(max_length=NOTE_MAX_LENGTH)
    # Set to correct an earlier update of one's own: that one is marked entered in error.
    corrects_id: uuid.UUID | None = None
