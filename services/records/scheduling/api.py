"""Scheduling's HTTP routes: appointments, availability and its exceptions, free slots."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.records import audit
from services.records.errors import AppointmentClosed, AppointmentOverlaps, NoAvailability
from services.records.scheduling import service
from services.records.scheduling.schemas import (
    AppointmentView,
    AvailabilityExceptionView,
    AvailabilityView,
    NewAppointment,
    NewAvailability,
    NewAvailabilityException,
    NewTimes,
    ScheduleTime,
    SlotsView,
)
from services.records.scheduling.service import SlotRules
from shared.dependencies import SessionDep
from shared.openapi import error_responses
from shared.time_formats import TimeZoneName
from shared.tokens import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["records"], dependencies=[Depends(audit.request_context)])


async def slot_rules(request: Request) -> SlotRules:
    """The service's slot length and step (from its settings).

    ``async`` although it never awaits: FastAPI runs a plain ``def`` dependency in a worker
    thread, a thread hop per request that was a tenth of an availability read's profile.
    """
    rules: SlotRules = request.app.state.slot_rules
    return rules


SlotRulesDep = Annotated[SlotRules, Depends(slot_rules)]


@router.post("/appointments", status_code=201, responses=error_responses(AppointmentOverlaps))
async def book_appointment(
    principal: CurrentPrincipal, booking: NewAppointment, db: SessionDep, rules: SlotRulesDep
) -> AppointmentView:
    """Book an appointment; creates its session record. A clinician books any free time of
    theirs; a client (with their clinician) or a partner app a free slot."""
    return await service.book_appointment(db, principal, booking, rules)


@router.get("/appointments")
async def list_appointments(
    principal: CurrentPrincipal,
    db: SessionDep,
    tz: Annotated[TimeZoneName | None, Query(description="IANA time zone to show times in")] = None,
) -> list[AppointmentView]:
    """The caller's appointments, as clinician or as client (a partner app: those of the
    clinicians who granted it access), earliest first."""
    return await service.list_appointments(db, principal, tz)


@router.post(
    "/appointments/{appointment_id}/reschedule",
    responses=error_responses(AppointmentOverlaps, AppointmentClosed),
)
async def reschedule_appointment(
    principal: CurrentPrincipal,
    appointment_id: uuid.UUID,
    times: NewTimes,
    db: SessionDep,
    rules: SlotRulesDep,
) -> AppointmentView:
    """Move a booked appointment to a free, future time (its clinician or client, or a
    partner app with appointments:write)."""
    return await service.reschedule_appointment(db, principal, appointment_id, times, rules)


@router.put("/availability")
async def set_availability(
    principal: CurrentPrincipal, new: NewAvailability, db: SessionDep, rules: SlotRulesDep
) -> AvailabilityView:
    """Set the calling clinician's weekly hours in their IANA time zone (replaces them)."""
    return await service.set_availability(db, principal, new, rules)


@router.get("/availability", responses=error_responses(NoAvailability))
async def read_availability(
    principal: CurrentPrincipal, db: SessionDep, rules: SlotRulesDep
) -> AvailabilityView:
    """The calling clinician's weekly hours and exceptions."""
    return await service.read_availability(db, principal, rules)


@router.post("/availability/exceptions", status_code=201, responses=error_responses(NoAvailability))
async def add_availability_exception(
    principal: CurrentPrincipal, new: NewAvailabilityException, db: SessionDep
) -> AvailabilityExceptionView:
    """Days or hours off, or extra hours, on local dates (the calling clinician)."""
    return await service.add_availability_exception(db, principal, new)


@router.delete("/availability/exceptions/{exception_id}", status_code=204)
async def remove_availability_exception(
    principal: CurrentPrincipal, exception_id: uuid.UUID, db: SessionDep
) -> None:
    """Take back an exception (the calling clinician)."""
    await service.remove_availability_exception(db, principal, exception_id)


@router.get("/clinicians/{clinician_id}/slots")
async def list_slots(
    principal: CurrentPrincipal,
    clinician_id: uuid.UUID,
    db: SessionDep,
    rules: SlotRulesDep,
    starts_from: Annotated[ScheduleTime | None, Query(alias="from")] = None,
    starts_before: Annotated[ScheduleTime | None, Query(alias="to")] = None,
) -> SlotsView:
    """Free bookable slots starting in [from, to), UTC, earliest first (the clinician, their
    clients, partner apps with appointments:read). ``from`` defaults to now less 15 minutes,
    so the slot under way is offered too; ``to`` to two weeks after ``from``."""
    return await service.list_slots(db, principal, clinician_id, starts_from, starts_before, rules)


@router.post("/appointments/{appointment_id}/cancel", responses=error_responses(AppointmentClosed))
async def cancel_appointment(
    principal: CurrentPrincipal, appointment_id: uuid.UUID, db: SessionDep
) -> AppointmentView:
    """Cancel an appointment that has not happened (its clinician or client)."""
    return await service.cancel_appointment(db, principal, appointment_id)


@router.post("/appointments/{appointment_id}/no-show", responses=error_responses(AppointmentClosed))
async def mark_no_show(
    principal: CurrentPrincipal, appointment_id: uuid.UUID, db: SessionDep
) -> AppointmentView:
    """Record that the client did not come (its clinician, after the start time)."""
    return await service.mark_no_show(db, principal, appointment_id)
