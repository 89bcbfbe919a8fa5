"""What care relationship, plan and value requests carry, and how they are shown."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from services.records.schemas import NON_BLANK, STATEMENT_MAX_LENGTH, RequestBody, View


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


class NewValue(RequestBody):
    statement: str = Field(min_length=1, max_length=STATEMENT_MAX_LENGTH, pattern=NON_BLANK)
    # Set to revise one of one's current values: the new entry supersedes it.
    supersedes_id: uuid.UUID | None = None


class ValueView(View):
    id: uuid.UUID
    client_id: uuid.UUID
    statement: str
    supersedes_id: uuid.UUID | None
    superseded_at: datetime | None
    created_at: datetime
