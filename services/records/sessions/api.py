"""The sessions' HTTP routes: a session's record, and a client's progress for charts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.records import audit
from services.records.sessions import service
from services.records.sessions.schemas import ProgressPage, SessionRecordView
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
