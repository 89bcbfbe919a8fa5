"""What safety requests carry, and how flags and safety plans are shown."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from services.records.safety.rules import AckAction, FlagStatus, Severity
from services.records.schemas import NON_BLANK, NOTE_MAX_LENGTH, RequestBody, View


class FlagView(View):
    """A safety flag: who, what raised it, how urgent, and its deadline and handling. Never the
    answers that raised it."""

    id: uuid.UUID
    client_id: uuid.UUID
    clinician_id: uuid.UUID
    response_id: uuid.UUID | None
    instrument: str
    rule: str
    severity: Severity
    status: FlagStatus
    raised_at: datetime
    due_at: datetime
    escalated_at: datetime | None
    escalated_to: uuid.UUID | None
    acknowledged_at: datetime | None
    acknowledged_by: uuid.UUID | None
    action: AckAction | None
    action_note: str | None


class Acknowledgement(RequestBody):
    """What was done about the flag, and optionally a note (clinical text: it stays in the
    record)."""

    action: AckAction
    note: str | None = Field(default=None, max_length=NOTE_MAX_LENGTH)


Entry = Annotated[str, Field(min_length=1, max_length=500, pattern=NON_BLANK)]
Entries = Annotated[list[Entry], Field(max_length=20)]


class SafetyPlanSections(RequestBody):
    """The Stanley-Brown safety plan's steps, each a short list in the client's words."""

    warning_signs: Entries = []
    internal_coping_strategies: Entries = []
    people_and_places_for_distraction: Entries = []
    people_to_ask_for_help: Entries = []
    professionals_and_crisis_lines: Entries = []
    making_the_environment_safe: Entries = []


class SafetyPlanView(BaseModel):
    client_id: uuid.UUID
    version: int
    sections: SafetyPlanSections
    author_id: uuid.UUID
    author_role: str
    saved_at: datetime


class SafetyPlanVersionView(BaseModel):
    version: int
    author_id: uuid.UUID
    author_role: str
    saved_at: datetime
