"""The check-ins' HTTP routes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends

from services.records import audit
from services.records.check_ins import service
from services.records.check_ins.schemas import CheckInView, NewCheckIn
from services.records.errors import CheckInAlreadySubmitted
from shared.dependencies import SessionDep
from shared.openapi import error_responses
from shared.tokens import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["records"], dependencies=[Depends(audit.request_context)])


@router.post(
    "/sessions/{session_id}/check-ins",
    status_code=201,
    responses=error_responses(CheckInAlreadySubmitted),
)
async def submit_check_in(
    principal: CurrentPrincipal,
    session_id: uuid.UUID,
    new_check_in: Annotated[NewCheckIn, Body()],
    db: SessionDep,
) -> CheckInView:
    """The session's client rates the past week (kind outcome) or the session (kind session)."""
    return await service.submit_check_in(db, principal, session_id, new_check_in)


@router.get("/sessions/{session_id}/check-ins")
async def list_check_ins(
    principal: CurrentPrincipal, session_id: uuid.UUID, db: SessionDep
) -> list[CheckInView]:
    """A session's check-ins with totals and flags."""
    return await service.list_check_ins(db, principal, session_id)
