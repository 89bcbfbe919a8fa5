"""The goals' HTTP routes: proposal, agreement, status, updates."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.records import audit
from services.records.errors import AlreadyAgreed, GoalNotActive
from services.records.goals import service
from services.records.goals.schemas import GoalStatusChange, GoalView, NewGoal, NewGoalUpdate
from services.records.schemas import GoalUpdateView
from shared.dependencies import SessionDep
from shared.openapi import error_responses
from shared.tokens import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["records"], dependencies=[Depends(audit.request_context)])


@router.post("/goals", status_code=201)
async def propose_goal(principal: CurrentPrincipal, new_goal: NewGoal, db: SessionDep) -> GoalView:
    """Propose a goal in a care relationship; active once the other party agrees."""
    return await service.propose_goal(db, principal, new_goal)


@router.post("/goals/{goal_id}/agreement", responses=error_responses(AlreadyAgreed, GoalNotActive))
async def agree_to_goal(
    principal: CurrentPrincipal, goal_id: uuid.UUID, db: SessionDep
) -> GoalView:
    """Agree to a proposed goal (the party that did not propose it)."""
    return await service.agree_to_goal(db, principal, goal_id)


@router.patch("/goals/{goal_id}", responses=error_responses(GoalNotActive))
async def change_goal_status(
    principal: CurrentPrincipal, goal_id: uuid.UUID, change: GoalStatusChange, db: SessionDep
) -> GoalView:
    """Change a goal's lifecycle or achievement status (its clinician)."""
    return await service.change_goal_status(db, principal, goal_id, change)


@router.get("/goals")
async def list_goals(
    principal: CurrentPrincipal,
    db: SessionDep,
    client_id: Annotated[uuid.UUID | None, Query()] = None,
) -> list[GoalView]:
    """Goals the caller may see: a clinician's own (optionally one client's), a client's own."""
    return await service.list_goals(db, principal, client_id)


@router.get("/goals/{goal_id}/updates")
async def goal_history(
    principal: CurrentPrincipal, goal_id: uuid.UUID, db: SessionDep
) -> list[GoalUpdateView]:
    """A goal's update history, corrected entries included (its clinician and client)."""
    return await service.goal_history(db, principal, goal_id)


@router.post("/goals/{goal_id}/updates", status_code=201, responses=error_responses(GoalNotActive))
async def record_goal_update(
    principal: CurrentPrincipal, goal_id: uuid.UUID, new_update: NewGoalUpdate, db: SessionDep
) -> GoalUpdateView:
    """Report progress on a goal (its clinician or its client)."""
    return await service.record_goal_update(db, principal, goal_id, new_update)
