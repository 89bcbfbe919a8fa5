"""What measure requests carry, and how assignments, responses, trends and the caseload are
shown."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from services.records.measures.rules import Cadence, Change, InstrumentCode
from services.records.schemas import RequestBody, View

Phase = Literal["before", "waiting", "after"]


class InstrumentView(BaseModel):
    code: InstrumentCode
    version: str
    title: str
    url: str
    items: int
    min_total: int
    max_total: int
    bands: list[dict[str, int | str]]
    reliable_change: int | None
    caseness: int | None


class NewAssignment(RequestBody):
    """Ask a client to answer an instrument: at intake, every session, every ``every_n``
    sessions, or before discharge. Assigning an instrument again changes its cadence."""

    instrument: InstrumentCode
    cadence: Cadence
    every_n: int | None = Field(default=None, ge=1, le=52)

    @model_validator(mode="after")
    def _every_n_goes_with_its_cadence(self) -> NewAssignment:
        if (self.cadence == "every-n-sessions") != (self.every_n is not None):
            raise ValueError("every_n is required with cadence every-n-sessions, and only then")
        return self


class AssignmentView(View):
    id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    instrument: InstrumentCode
    cadence: Cadence
    every_n: int | None
    active: bool
    assigned_at: datetime


class DueMeasure(BaseModel):
    """An instrument the client is asked to answer now, in this session."""

    assignment_id: uuid.UUID
    instrument: InstrumentCode
    title: str
    version: str


class NewResponse(RequestBody):
    """The client's answers: item link id -> value (the answer's ordinal value); an item
    left out or null is skipped, which the instrument's missing-item rule decides on."""

    instrument: InstrumentCode
    phase: Phase
    answers: dict[str, int | None] = Field(max_length=40)


class ResponseView(View):
    """A scored response. ``answers`` (item link id -> value) are shown to the pair only."""

    id: uuid.UUID
    client_id: uuid.UUID
    clinician_id: uuid.UUID
    session_id: uuid.UUID | None
    instrument: InstrumentCode
    instrument_version: str
    phase: Phase
    total: int
    band: str
    prorated: bool
    answered: int
    subscales: dict[str, int]
    completed_at: datetime
    answers: dict[str, int | None] | None = None
    # True when an answer raised a safety flag: the page then shows where to get help now.
    safety_flag_raised: bool = False


class TrendPoint(BaseModel):
    response_id: uuid.UUID
    session_id: uuid.UUID | None
    total: int
    band: str
    completed_at: datetime


class InstrumentTrend(BaseModel):
    """One instrument's totals over time, its bands (to draw), and the change so far."""

    instrument: InstrumentCode
    bands: list[dict[str, int | str]]
    caseness: int | None
    points: list[TrendPoint]
    change: Change
    first_total: int
    latest_total: int


class MeasuresSummary(BaseModel):
    """A client's measures with one clinician (or all of theirs, for the client)."""

    client_id: uuid.UUID
    trends: list[InstrumentTrend]
    # The NHS Talking Therapies outcome from PHQ-9 and GAD-7 (None before any).
    change: Change | None
    case_at_start: bool
    recovered: bool
    reliably_recovered: bool


class CaseloadEntry(BaseModel):
    client_id: uuid.UUID
    sessions_held: int
    latest: dict[str, TrendPoint]
    change: Change | None
    recovered: bool
    off_track: bool
    open_safety_flags: int


class Caseload(BaseModel):
    """The clinician's clients: who is off track (reliably deteriorated, or not reliably
    improved by the review session), who has recovered, who has an open safety flag."""

    clinician_id: uuid.UUID
    review_session: int
    clients: list[CaseloadEntry]
