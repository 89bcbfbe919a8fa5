"""The safety routes: flags for the dashboard and their acknowledgement, the safety plan."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query

from services.records import audit
from services.records.errors import NotYourRecord
from services.records.safety import service
from services.records.safety.errors import (
    FlagAlreadyAcknowledged,
    SafetyFlagNotFound,
    SafetyPlanNotFound,
)
from services.records.safety.schemas import (
    Acknowledgement,
    FlagView,
    SafetyPlanSections,
    SafetyPlanVersionView,
    SafetyPlanView,
)
from shared.dependencies import SessionDep
from shared.errors import Forbidden
from shared.openapi import error_responses
from shared.tokens import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["records"], dependencies=[Depends(audit.request_context)])


@router.get("/safety-flags", responses=error_responses(Forbidden))
async def list_safety_flags(principal: CurrentPrincipal, db: SessionDep) -> list[FlagView]:
    """Unacknowledged flags waiting on the caller: a clinician's clients' (open or escalated),
    or for an admin those escalated to them (or to every admin)."""
    return await service.list_flags(db, principal)


@router.post(
    "/safety-flags/{flag_id}/acknowledgement",
    responses=error_responses(SafetyFlagNotFound, FlagAlreadyAcknowledged),
)
async def acknowledge_safety_flag(
    principal: CurrentPrincipal,
    flag_id: uuid.UUID,
    acknowledgement: Annotated[Acknowledgement, Body()],
    db: SessionDep,
) -> FlagView:
    """Record what was done (reviewed in session, contacted, safety plan updated, referred)."""
    return await service.acknowledge(db, principal, flag_id, acknowledgement)


@router.get("/clients/{client_id}/safety-flags", responses=error_responses(Forbidden))
async def list_client_safety_flags(
    principal: CurrentPrincipal, client_id: uuid.UUID, db: SessionDep
) -> list[FlagView]:
    """Every flag of one client with the calling clinician, handled or not."""
    return await service.list_client_flags(db, principal, client_id)


@router.put("/clients/{client_id}/safety-plan", responses=error_responses(NotYourRecord))
async def save_safety_plan(
    principal: CurrentPrincipal,
    client_id: uuid.UUID,
    sections: Annotated[SafetyPlanSections, Body()],
    db: SessionDep,
) -> SafetyPlanView:
    """Save the client's safety plan as a new version (the client or their clinician)."""
    return await service.save_plan(db, principal, client_id, sections)


@router.get(
    "/clients/{client_id}/safety-plan",
    responses=error_responses(NotYourRecord, SafetyPlanNotFound),
)
async def read_safety_plan(
    principal: CurrentPrincipal,
    client_id: uuid.UUID,
    db: SessionDep,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> SafetyPlanView:
    """The safety plan's latest version, or ``version``; the client sees their own."""
    return await service.read_plan(db, principal, client_id, version)


@router.get("/clients/{client_id}/safety-plan/versions", responses=error_responses(NotYourRecord))
async def safety_plan_history(
    principal: CurrentPrincipal, client_id: uuid.UUID, db: SessionDep
) -> list[SafetyPlanVersionView]:
    """Who saved each version of the plan, and when."""
    return await service.plan_history(db, principal, client_id)
