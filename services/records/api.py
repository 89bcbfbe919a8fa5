"""The records HTTP API: parse, call the service, return the view.

Each request runs in one unit of work (``SessionDep``) that commits before the response
is sent, so a 201 means the change, its audit entries and its outbox events are stored.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.records import audit, service
from services.records.audit.api import router as audit_router
from services.records.check_ins.api import router as check_ins_router
from services.records.fhir.api import router as fhir_router
from services.records.goals.api import router as goals_router
from services.records.measures.api import router as measures_router
from services.records.notes.api import router as notes_router
from services.records.partnership.api import router as partnership_router
from services.records.safety.api import router as safety_router
from services.records.scheduling.api import router as scheduling_router
from services.records.schemas import (
    ProgressPage,
    SessionRecordView,
)
from shared.dependencies import SessionDep
from shared.time_formats import IsoDateTime
from shared.tokens import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["records"], dependencies=[Depends(audit.request_context)])


@router.get("/sessions/{session_id}")
async def read_session_record(
    principal: CurrentPrincipal, session_id: uuid.UUID, db: SessionDep
) -> SessionRecordView:
    """A session's record, for its clinician or its client."""
    return await service.read_session_record(db, principal, session_id)


@router.get("/clients/{client_id}/progress")
async def client_progress(
    principal: CurrentPrincipal,
    client_id: uuid.UUID,
    db: SessionDep,
    goal_id: Annotated[uuid.UUID | None, Query()] = None,
    starts_from: Annotated[IsoDateTime | None, Query(alias="from")] = None,
    starts_before: Annotated[IsoDateTime | None, Query(alias="to")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ProgressPage:
    """Progress per session for charts: both sides' goal ratings, check-in totals, flags."""
    return await service.client_progress(
        db,
        principal,
        client_id,
        goal_id=goal_id,
        starts_from=starts_from,
        starts_before=starts_before,
        offset=offset,
        limit=limit,
    )


# The sub-domains' routes join this router as routes (not as nested routers), so everything
# that reads ``router.routes`` (the gateway's reachability check, the docs) sees each of them.
for sub_router in (
    scheduling_router,
    partnership_router,
    goals_router,
    check_ins_router,
    notes_router,
    fhir_router,
    audit_router,
    measures_router,
    safety_router,
):
    router.routes.extend(sub_router.routes)
