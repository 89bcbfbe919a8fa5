"""Availability: a clinician's weekly hours and exceptions, and the free slots they open."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import audit, availability, repository
from services.records.access import (
    BOOKING_GRACE,
    is_partner,
    partner_for,
)
from services.records.availability import DayException, Slot, WeeklyHours
from services.records.errors import (
    AvailabilityExceptionNotFound,
    NoAvailability,
    NotYourRecord,
)
from services.records.models import Availability, AvailabilityException
from services.records.schemas import (
    AvailabilityExceptionView,
    AvailabilityView,
    NewAvailability,
    NewAvailabilityException,
    SlotsView,
    SlotView,
    WeeklyHoursView,
)
from shared.db import utc_now
from shared.errors import InvalidRequest
from shared.scopes import PartnerScope
from shared.tokens import Principal

# The longest window one slots query may ask for.
MAX_SLOT_WINDOW = timedelta(days=62)
DEFAULT_SLOT_WINDOW = timedelta(days=14)


@dataclass(frozen=True)
class SlotRules:
    """The service-wide slot length and step (settings), unless a clinician sets their own."""

    slot_minutes: int = 50
    step_minutes: int = 60

    def length(self, row: Availability) -> timedelta:
        return timedelta(minutes=row.slot_minutes or self.slot_minutes)

    def step(self, row: Availability) -> timedelta:
        return timedelta(minutes=row.step_minutes or self.step_minutes)


def _exception_view(row: AvailabilityException) -> AvailabilityExceptionView:
    clock = availability.format_clock
    return AvailabilityExceptionView(
        id=row.id,
        kind=row.kind,
        first_day=row.first_day,
        last_day=row.last_day,
        start=None if row.start_minute is None else clock(row.start_minute),
        end=None if row.end_minute is None else clock(row.end_minute),
    )


async def _availability_view(
    db: AsyncSession, row: Availability, rules: SlotRules
) -> AvailabilityView:
    clock = availability.format_clock
    exceptions = await repository.list_availability_exceptions(db, row.clinician_id)
    return AvailabilityView(
        clinician_id=row.clinician_id,
        time_zone=row.time_zone,
        weekly_hours=[
            WeeklyHoursView(
                weekday=availability.WEEKDAYS[h["weekday"] - 1],
                start=clock(h["start"]),
                end=clock(h["end"]),
            )
            for h in row.weekly_hours
        ],
        slot_minutes=row.slot_minutes or rules.slot_minutes,
        step_minutes=row.step_minutes or rules.step_minutes,
        exceptions=[_exception_view(e) for e in exceptions],
    )


async def set_availability(
    db: AsyncSession, principal: Principal, new: NewAvailability, rules: SlotRules
) -> AvailabilityView:
    """The calling clinician's weekly hours, replacing the ones before (exceptions stay)."""
    principal.require_role("clinician")
    hours = sorted(
        {
            (h.weekday, availability.parse_clock(h.start), availability.parse_clock(h.end))
            for h in new.weekly_hours
        }
    )
    weekly = [{"weekday": w, "start": s, "end": e} for w, s, e in hours]
    row = await repository.get_availability(db, principal.user_id)
    if row is None:
        row = Availability(clinician_id=principal.user_id, time_zone=new.time_zone)
        repository.add(db, row)
    row.time_zone = new.time_zone
    row.weekly_hours = weekly
    row.slot_minutes = new.slot_minutes
    row.step_minutes = new.step_minutes
    row.updated_at = utc_now()
    return await _availability_view(db, row, rules)


async def _own_availability(db: AsyncSession, clinician_id: uuid.UUID) -> Availability:
    row = await repository.get_availability(db, clinician_id)
    if row is None:
        raise NoAvailability("set your weekly hours first (PUT /v1/availability)")
    return row


async def read_availability(
    db: AsyncSession, principal: Principal, rules: SlotRules
) -> AvailabilityView:
    """The calling clinician's weekly hours and exceptions."""
    principal.require_role("clinician")
    row = await _own_availability(db, principal.user_id)
    return await _availability_view(db, row, rules)


async def add_availability_exception(
    db: AsyncSession, principal: Principal, new: NewAvailabilityException
) -> AvailabilityExceptionView:
    """Days off, hours off, or extra hours for the calling clinician (local dates and times)."""
    principal.require_role("clinician")
    await _own_availability(db, principal.user_id)
    row = AvailabilityException(
        clinician_id=principal.user_id,
        kind=new.kind,
        first_day=new.first_day,
        last_day=new.last_day or new.first_day,
        start_minute=None if new.start is None else availability.parse_clock(new.start),
        end_minute=None if new.end is None else availability.parse_clock(new.end),
    )
    repository.add(db, row)
    return _exception_view(row)


async def remove_availability_exception(
    db: AsyncSession, principal: Principal, exception_id: uuid.UUID
) -> None:
    """Take back one of the calling clinician's exceptions."""
    principal.require_role("clinician")
    row = await repository.get_availability_exception(db, exception_id)
    if row is None or row.clinician_id != principal.user_id:
        raise AvailabilityExceptionNotFound(f"no availability exception {exception_id}")
    await repository.delete(db, row)


async def free_slots(
    db: AsyncSession,
    clinician_id: uuid.UUID,
    window_start: datetime,
    window_end: datetime,
    *,
    rules: SlotRules,
    now: datetime,
    excluding: uuid.UUID | None = None,
) -> tuple[Availability | None, list[Slot]]:
    """The clinician's free slots starting in the window (none without availability).

    A slot that began up to ``BOOKING_GRACE`` ago is still offered: a session can be booked
    as it starts. ``excluding`` frees an appointment's own time (when it is rescheduled).
    """
    row = await repository.get_availability(db, clinician_id)
    if row is None:
        return None, []
    length = rules.length(row)
    busy = await repository.busy_intervals(
        db, clinician_id, window_start - length, window_end + length, excluding=excluding
    )
    exceptions = await repository.list_availability_exceptions(db, clinician_id)
    slots = availability.free_slots(
        ZoneInfo(row.time_zone),
        [WeeklyHours(h["weekday"], h["start"], h["end"]) for h in row.weekly_hours],
        [
            DayException(
                e.kind,  # type: ignore[arg-type]
                e.first_day,
                e.last_day,
                e.start_minute,
                e.end_minute,
            )
            for e in exceptions
        ],
        busy,
        window_start=window_start,
        window_end=window_end,
        earliest=now - BOOKING_GRACE,
        length=length,
        step=rules.step(row),
    )
    return row, slots


async def may_see_schedule(db: AsyncSession, principal: Principal, clinician_id: uuid.UUID) -> None:
    """The clinician, their clients, and partner apps with appointments:read they granted."""
    if is_partner(principal):
        await partner_for(db, principal, clinician_id, PartnerScope.APPOINTMENTS_READ)
        return
    principal.require_role("clinician", "client")
    caller = principal.user_id
    if principal.role == "clinician" and caller == clinician_id:
        return
    if (
        principal.role == "client"
        and await repository.get_active_relationship(db, clinician_id, caller) is not None
    ):
        return
    raise NotYourRecord("only this clinician, their clients and their partner apps see the slots")


async def list_slots(
    db: AsyncSession,
    principal: Principal,
    clinician_id: uuid.UUID,
    starts_from: datetime | None,
    starts_before: datetime | None,
    rules: SlotRules,
) -> SlotsView:
    """Free bookable slots in ``[from, to)``; ``from`` defaults to now (less the booking
    grace, so the slot under way is offered too) and ``to`` to two weeks later. 404
    :class:`NoAvailability` when the clinician has set no hours (no online booking)."""
    await may_see_schedule(db, principal, clinician_id)
    now = utc_now()
    window_start = starts_from or now - BOOKING_GRACE
    window_end = starts_before or window_start + DEFAULT_SLOT_WINDOW
    if window_end <= window_start:
        raise InvalidRequest("to: must be after from", field="to")
    if window_end - window_start > MAX_SLOT_WINDOW:
        raise InvalidRequest(f"to: at most {MAX_SLOT_WINDOW.days} days after from", field="to")
    row, slots = await free_slots(db, clinician_id, window_start, window_end, rules=rules, now=now)
    if row is None:
        raise NoAvailability(f"clinician {clinician_id} has not set bookable hours")
    await audit.record(db, principal, "read", "availability", [clinician_id])
    return SlotsView(
        clinician_id=clinician_id,
        time_zone=row.time_zone,
        slot_minutes=row.slot_minutes or rules.slot_minutes,
        slots=[SlotView(starts_at=s.starts_at, ends_at=s.ends_at) for s in slots],
    )
