"""The partnership's HTTP routes: care relationships, the plan, values."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from services.records import audit
from services.records.errors import PlanClosed
from services.records.partnership import service
from services.records.partnership.schemas import (
    CareRelationshipView,
    NewCareRelationship,
    NewValue,
    PlanChange,
    Readiness,
    ValueView,
)
from shared.dependencies import SessionDep
from shared.openapi import error_responses
from shared.tokens import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["records"], dependencies=[Depends(audit.request_context)])


@router.post("/care-relationships", status_code=201)
async def start_care_relationship(
    principal: CurrentPrincipal, request: NewCareRelationship, db: SessionDep, response: Response
) -> CareRelationshipView:
    """Take on a registered client (clinicians only); 200 with the existing one if active."""
    relationship, created = await service.start_care_relationship(db, principal, request)
    if not created:
        response.status_code = 200
    return relationship


@router.get("/care-relationships")
async def list_care_relationships(
    principal: CurrentPrincipal, db: SessionDep
) -> list[CareRelationshipView]:
    """The caller's care relationships, as clinician or as client."""
    return await service.list_care_relationships(db, principal)


@router.post("/care-relationships/{relationship_id}/discharge")
async def discharge(
    principal: CurrentPrincipal, relationship_id: uuid.UUID, db: SessionDep
) -> CareRelationshipView:
    """End a care relationship (its clinician)."""
    return await service.discharge(db, principal, relationship_id)


@router.patch("/care-relationships/{relationship_id}/plan", responses=error_responses(PlanClosed))
async def change_plan(
    principal: CurrentPrincipal, relationship_id: uuid.UUID, change: PlanChange, db: SessionDep
) -> CareRelationshipView:
    """Record ending criteria; move the plan active -> ending -> completed (the clinician)."""
    return await service.change_plan(db, principal, relationship_id, change)


@router.get("/care-relationships/{relationship_id}/readiness")
async def plan_readiness(
    principal: CurrentPrincipal, relationship_id: uuid.UUID, db: SessionDep
) -> Readiness:
    """Whether the partnership looks ready for its planned end (its clinician and client)."""
    return await service.plan_readiness(db, principal, relationship_id)


@router.post("/values", status_code=201)
async def add_value(principal: CurrentPrincipal, new_value: NewValue, db: SessionDep) -> ValueView:
    """Write down a value, or revise one with ``supersedes_id`` (clients only)."""
    return await service.add_value(db, principal, new_value)


@router.get("/values")
async def list_values(
    principal: CurrentPrincipal,
    db: SessionDep,
    client_id: Annotated[uuid.UUID | None, Query()] = None,
) -> list[ValueView]:
    """A client's values and their history (the client, or a clinician caring for them)."""
    return await service.list_values(db, principal, client_id)
