"""The measures' HTTP routes: instruments, assignments, answers, trends and the caseload."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request

from services.records import audit
from services.records.errors import NoCareRelationship, NotYourRecord, SessionRecordNotFound
from services.records.measures import service
from services.records.measures.errors import (
    MeasureNotAssigned,
    MeasureNotDue,
    UnknownInstrument,
    UnscorableResponse,
)
from services.records.measures.schemas import (
    AssignmentView,
    Caseload,
    DueMeasure,
    InstrumentView,
    MeasuresSummary,
    NewAssignment,
    NewResponse,
    ResponseView,
)
from services.records.settings import RecordsSettings
from shared.dependencies import SessionDep
from shared.errors import Forbidden
from shared.openapi import error_responses
from shared.tokens import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["records"], dependencies=[Depends(audit.request_context)])


async def _settings(request: Request) -> RecordsSettings:
    # async: a plain def dependency costs a worker-thread hop per request.
    settings: RecordsSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[RecordsSettings, Depends(_settings)]


@router.get("/measures")
async def list_instruments(principal: CurrentPrincipal) -> list[InstrumentView]:
    """The instruments Rapport ships (PHQ-9, GAD-7, WAI-SR), their bands and thresholds."""
    return service.list_instruments()


@router.get("/measures/{instrument}", responses=error_responses(UnknownInstrument))
async def read_questionnaire(principal: CurrentPrincipal, instrument: str) -> dict[str, Any]:
    """The instrument's current version as a FHIR R4 Questionnaire resource."""
    return service.questionnaire(instrument)


@router.put(
    "/clients/{client_id}/measure-assignments",
    responses=error_responses(NoCareRelationship, Forbidden),
)
async def assign_measure(
    principal: CurrentPrincipal,
    client_id: uuid.UUID,
    assignment: Annotated[NewAssignment, Body()],
    db: SessionDep,
) -> AssignmentView:
    """The clinician assigns an instrument to their client with a cadence (or changes it)."""
    return await service.assign(db, principal, client_id, assignment)


@router.get("/clients/{client_id}/measure-assignments", responses=error_responses(NotYourRecord))
async def list_measure_assignments(
    principal: CurrentPrincipal, client_id: uuid.UUID, db: SessionDep
) -> list[AssignmentView]:
    """The client's assignments (the clinician's own, or all of them for the client)."""
    return await service.list_assignments(db, principal, client_id)


@router.get(
    "/sessions/{session_id}/measures",
    responses=error_responses(SessionRecordNotFound, Forbidden),
)
async def due_measures(
    principal: CurrentPrincipal, session_id: uuid.UUID, db: SessionDep
) -> list[DueMeasure]:
    """What the session's client is asked to answer now."""
    return await service.due_in_session(db, principal, session_id)


@router.post(
    "/sessions/{session_id}/measures",
    status_code=201,
    responses=error_responses(
        SessionRecordNotFound, Forbidden, MeasureNotAssigned, MeasureNotDue, UnscorableResponse
    ),
)
async def answer_measure(
    principal: CurrentPrincipal,
    session_id: uuid.UUID,
    response: Annotated[NewResponse, Body()],
    db: SessionDep,
    settings: SettingsDep,
) -> ResponseView:
    """The session's client answers an assigned instrument (before, waiting, or after)."""
    return await service.submit_response(
        db,
        principal,
        session_id,
        response,
        flag_deadline=timedelta(minutes=settings.safety_ack_minutes),
    )


@router.get("/clients/{client_id}/measures", responses=error_responses(NotYourRecord))
async def list_measure_responses(
    principal: CurrentPrincipal, client_id: uuid.UUID, db: SessionDep
) -> list[ResponseView]:
    """The client's responses with their answers, for the client and their clinician."""
    return await service.list_responses(db, principal, client_id)


@router.get("/clients/{client_id}/measures/summary", responses=error_responses(NotYourRecord))
async def measures_summary(
    principal: CurrentPrincipal, client_id: uuid.UUID, db: SessionDep
) -> MeasuresSummary:
    """Trends with severity bands, reliable change and recovery so far."""
    return await service.summary(db, principal, client_id)


@router.get("/clinicians/me/caseload", responses=error_responses(Forbidden))
async def caseload(principal: CurrentPrincipal, db: SessionDep, settings: SettingsDep) -> Caseload:
    """The clinician's clients: off track, recovered, with an open safety flag."""
    return await service.caseload(db, principal, settings.measures_review_session)
