"""The records HTTP API: parse, call the service, return the view.

Each request runs in one unit of work (``SessionDep``) that commits before the response
is sent, so a 201 means the change, its audit entries and its outbox events are stored.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from services.records import service
from services.records.schemas import (
    AppointmentView,
    GoalUpdateView,
    GoalView,
    NewAppointment,
    NewGoal,
    NewGoalUpdate,
    SessionRecordView,
)
from shared.dependencies import SessionDep
from shared.tokens import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["records"])


@router.post("/appointments", status_code=201)
async def book_appointment(
    principal: CurrentPrincipal, booking: NewAppointment, db: SessionDep
) -> AppointmentView:
    """Book an appointment with a client (clinicians only); creates its session record."""
    return await service.book_appointment(db, principal, booking)


@router.get("/appointments")
async def list_appointments(principal: CurrentPrincipal, db: SessionDep) -> list[AppointmentView]:
    """The caller's appointments, as clinician or as client, earliest first."""
    return await service.list_appointments(db, principal)


@router.post("/goals", status_code=201)
async def set_goal(principal: CurrentPrincipal, new_goal: NewGoal, db: SessionDep) -> GoalView:
    """Set a goal with a client (clinicians only)."""
    return await service.set_goal(db, principal, new_goal)


@router.get("/goals")
async def list_goals(
    principal: CurrentPrincipal,
    db: SessionDep,
    client_id: Annotated[uuid.UUID | None, Query()] = None,
) -> list[GoalView]:
    """Goals the caller may see: a clinician's own (optionally one client's), a client's own."""
    return await service.list_goals(db, principal, client_id)


@router.post("/goals/{goal_id}/updates", status_code=201)
async def record_goal_update(
    principal: CurrentPrincipal, goal_id: uuid.UUID, new_update: NewGoalUpdate, db: SessionDep
) -> GoalUpdateView:
    """Report progress on a goal (its clinician or its client)."""
    return await service.record_goal_update(db, principal, goal_id, new_update)


@router.get("/sessions/{session_id}")
async def read_session_record(
    principal: CurrentPrincipal, session_id: uuid.UUID, db: SessionDep
) -> SessionRecordView:
    """A session's record, for its clinician or its client."""
    return await service.read_session_record(db, principal, session_id)
