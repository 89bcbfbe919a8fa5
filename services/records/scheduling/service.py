"""Scheduling: a clinician's availability and the free slots it opens, appointments (booking,
rescheduling, cancelling, no-shows, time zones) and their reminders."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import audit
from services.records import repository as records
from services.records.access import (
    BOOKING_GRACE,
    OPEN_STATUSES,
    SOURCE,
    PartyRole,
    is_partner,
    partner_clinicians,
    partner_for,
    party_role,
    require_client,
    require_relationship,
)
from services.records.errors import (
    AppointmentClosed,
    AppointmentNotFound,
    AppointmentOverlaps,
    AvailabilityExceptionNotFound,
    NoAvailability,
    NotABookableSlot,
    NotYourRecord,
    UnknownParticipant,
)
from services.records.models import (
    Appointment,
    Availability,
    AvailabilityException,
    ReminderSent,
    SessionRecord,
)
from services.records.partnership import start_relationship
from services.records.scheduling import repository
from services.records.scheduling import rules as availability  # ``rules`` is a SlotRules
from services.records.scheduling.rules import DayException, Slot, WeeklyHours
from services.records.scheduling.schemas import (
    AppointmentView,
    AvailabilityExceptionView,
    AvailabilityView,
    NewAppointment,
    NewAvailability,
    NewAvailabilityException,
    NewTimes,
    SlotsView,
    SlotView,
    WeeklyHoursView,
)
from shared.db import utc_now
from shared.errors import Forbidden, InvalidRequest
from shared.events.catalog import (
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentReminderDue,
    AppointmentRescheduled,
    AppointmentScheduled,
)
from shared.events.outbox import add_event
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
        records.add(db, row)
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
    records.add(db, row)
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
        and await records.get_active_relationship(db, clinician_id, caller) is not None
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


# Appointments

Booker = Literal["clinician", "client", "partner"]


async def _booking_parties(
    db: AsyncSession, principal: Principal, booking: NewAppointment
) -> tuple[uuid.UUID, uuid.UUID, Booker]:
    """Whose appointment it is, and who books it.

    A clinician books their own time with a registered client (the first booking starts the
    care relationship); a client books with a clinician who cares for them; a partner app
    with ``appointments:write`` books for a client of a clinician who granted it access.
    """
    if is_partner(principal):
        await partner_clinicians(db, principal, PartnerScope.APPOINTMENTS_WRITE)
        if booking.clinician_id is None:
            raise InvalidRequest(
                "clinician_id: a partner app names the clinician", field="clinician_id"
            )
        if booking.client_id is None:
            raise InvalidRequest("client_id: a partner app names the client", field="client_id")
        await partner_for(db, principal, booking.clinician_id, PartnerScope.APPOINTMENTS_WRITE)
        await require_client(db, booking.client_id)
        await require_relationship(db, booking.clinician_id, booking.client_id, "client_id")
        return booking.clinician_id, booking.client_id, "partner"
    principal.require_role("clinician", "client")
    caller = principal.user_id
    if principal.role == "client":
        if booking.client_id not in (None, caller):
            raise Forbidden("clients book appointments for themselves")
        if booking.clinician_id is None:
            raise InvalidRequest(
                "clinician_id: a client names their clinician", field="clinician_id"
            )
        await require_relationship(db, booking.clinician_id, caller, "clinician_id")
        return booking.clinician_id, caller, "client"
    if booking.clinician_id not in (None, caller):
        raise Forbidden("clinicians book their own time")
    if booking.client_id is None:
        raise InvalidRequest("client_id: a clinician names the client", field="client_id")
    await require_client(db, booking.client_id)
    return caller, booking.client_id, "clinician"


async def _require_invitees(
    db: AsyncSession, invited: list[uuid.UUID], clinician_id: uuid.UUID, client_id: uuid.UUID
) -> None:
    for user_id in invited:
        if (
            user_id in (clinician_id, client_id)
            or await records.get_known_user(db, user_id) is None
        ):
            raise UnknownParticipant(
                f"invited_participant_ids: {user_id} is not a registered user other than the "
                "clinician and the client",
                field="invited_participant_ids",
            )


async def _refuse_overlap(
    db: AsyncSession,
    clinician_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    *,
    excluding: uuid.UUID | None = None,
    name_it: bool,
) -> None:
    """409 naming the conflict; the conflicting appointment's id only for its clinician."""
    conflict = await repository.overlapping_appointment(
        db, clinician_id, starts_at, ends_at, excluding=excluding
    )
    if conflict is None:
        return
    extra: dict[str, Any] = {
        "conflict": {
            "starts_at": conflict.starts_at.isoformat(),
            "ends_at": conflict.ends_at.isoformat(),
            **({"appointment_id": str(conflict.id)} if name_it else {}),
        }
    }
    raise AppointmentOverlaps(
        f"starts_at: the clinician already has an appointment from "
        f"{conflict.starts_at.isoformat()} to {conflict.ends_at.isoformat()}, which overlaps "
        f"{starts_at.astimezone(UTC).isoformat()} to {ends_at.astimezone(UTC).isoformat()}",
        field="starts_at",
        **extra,
    )


async def _require_free_slot(
    db: AsyncSession,
    clinician_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    rules: SlotRules,
    excluding: uuid.UUID | None = None,
) -> None:
    """Clients and partner apps book exactly one free slot of the clinician's availability."""
    _, slots = await free_slots(
        db,
        clinician_id,
        starts_at,
        starts_at + timedelta(minutes=1),
        rules=rules,
        now=utc_now(),
        excluding=excluding,
    )
    if not any(s.starts_at == starts_at and s.ends_at == ends_at for s in slots):
        raise NotABookableSlot(
            f"starts_at: {starts_at.astimezone(UTC).isoformat()} to "
            f"{ends_at.astimezone(UTC).isoformat()} is not a free slot of the clinician "
            f"(GET /v1/clinicians/{clinician_id}/slots lists them)",
            field="starts_at",
        )


async def book_appointment(
    db: AsyncSession, principal: Principal, booking: NewAppointment, rules: SlotRules
) -> AppointmentView:
    """Book an appointment, with its session record, and announce it.

    A clinician may book any free time of theirs; a client or a partner app books a free
    slot of the clinician's availability (``list_slots``).
    """
    clinician_id, client_id, booked_by = await _booking_parties(db, principal, booking)
    _require_future(booking.starts_at)
    await _require_invitees(db, booking.invited_participant_ids, clinician_id, client_id)
    await repository.lock_clinician_schedule(db, clinician_id)
    if booked_by == "clinician":
        # The first booking with a client starts the care relationship (when no accepted
        # invitation started it already).
        relationship, created = await start_relationship(db, clinician_id, client_id, "booking")
        if created:
            await audit.record(db, principal, "create", "care_relationship", [relationship.id])
    await _refuse_overlap(
        db, clinician_id, booking.starts_at, booking.ends_at, name_it=booked_by == "clinician"
    )
    if booked_by != "clinician":
        await _require_free_slot(db, clinician_id, booking.starts_at, booking.ends_at, rules)
    appointment = Appointment(
        session_id=uuid.uuid4(),
        clinician_id=clinician_id,
        client_id=client_id,
        starts_at=booking.starts_at.astimezone(UTC),
        ends_at=booking.ends_at.astimezone(UTC),
        max_participants=booking.max_participants,
        invited_participant_ids=[str(u) for u in booking.invited_participant_ids],
        booked_by=booked_by,
    )
    record = SessionRecord(
        session_id=appointment.session_id,
        appointment_id=appointment.id,
        clinician_id=clinician_id,
        client_id=client_id,
    )
    records.add(db, appointment, record)
    add_event(
        db,
        AppointmentScheduled(
            appointment_id=appointment.id,
            session_id=appointment.session_id,
            clinician_id=clinician_id,
            client_id=appointment.client_id,
            starts_at=appointment.starts_at,
            ends_at=appointment.ends_at,
            status=appointment.status,
            max_participants=appointment.max_participants,
            invited_participant_ids=booking.invited_participant_ids,
            booked_by=booked_by,
        ),
        source=SOURCE,
    )
    await audit.record(db, principal, "create", "appointment", [appointment.id])
    await audit.record(db, principal, "create", "session_record", [record.session_id])
    return _appointment_view(appointment)


async def list_appointments(
    db: AsyncSession, principal: Principal, time_zone: str | None = None
) -> list[AppointmentView]:
    """The caller's appointments, as clinician or as client, or a partner app's (with
    ``appointments:read``) of the clinicians who granted it access; in ``time_zone`` if
    given."""
    zone = _zone(time_zone)
    if is_partner(principal):
        clinicians = await partner_clinicians(db, principal, PartnerScope.APPOINTMENTS_READ)
        appointments = await repository.list_appointments_of_clinicians(db, clinicians)
    else:
        principal.require_role("clinician", "client")
        appointments = await repository.list_appointments_of(db, principal.user_id)
    await audit.record(db, principal, "read", "appointment", (a.id for a in appointments))
    return [_appointment_view(a, zone) for a in appointments]


def _zone(name: str | None) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidRequest(
            f"tz: {name!r} is not an IANA time zone (e.g. Europe/Paris)", field="tz"
        ) from exc


def _appointment_view(appointment: Appointment, zone: ZoneInfo | None = None) -> AppointmentView:
    view = AppointmentView.model_validate(appointment)
    if zone is None:
        return view
    return view.model_copy(
        update={
            "starts_at": view.starts_at.astimezone(zone),
            "ends_at": view.ends_at.astimezone(zone),
        }
    )


async def _appointment_of_party(
    db: AsyncSession, principal: Principal, appointment_id: uuid.UUID
) -> tuple[Appointment, PartyRole | Literal["partner"]]:
    """The appointment and the caller's part in it: a party, or a partner app with
    ``appointments:write`` acting for its clinician."""
    appointment = await repository.get_appointment(db, appointment_id)
    if appointment is None:
        raise AppointmentNotFound(f"no appointment {appointment_id}")
    if is_partner(principal):
        await partner_for(db, principal, appointment.clinician_id, PartnerScope.APPOINTMENTS_WRITE)
        return appointment, "partner"
    return appointment, party_role(principal, appointment.clinician_id, appointment.client_id)


def _require_open(appointment: Appointment) -> None:
    if appointment.status not in OPEN_STATUSES:
        raise AppointmentClosed(
            f"appointment {appointment.id} is {appointment.status}; it can no longer change"
        )


def _change_event(appointment: Appointment) -> dict[str, Any]:
    return {
        "appointment_id": appointment.id,
        "session_id": appointment.session_id,
        "clinician_id": appointment.clinician_id,
        "client_id": appointment.client_id,
        "starts_at": appointment.starts_at,
        "ends_at": appointment.ends_at,
        "status": appointment.status,
        "at": utc_now(),
    }


async def reschedule_appointment(
    db: AsyncSession,
    principal: Principal,
    appointment_id: uuid.UUID,
    times: NewTimes,
    rules: SlotRules,
) -> AppointmentView:
    """Either party (or a partner app with ``appointments:write``) moves a booked appointment
    to a free, future time; the session stays. The clinician may pick any free time; the
    client and a partner app a free slot."""
    appointment, role = await _appointment_of_party(db, principal, appointment_id)
    _require_open(appointment)
    if appointment.status != "booked":
        raise AppointmentClosed(f"appointment {appointment.id} has already begun")
    _require_future(times.starts_at)
    invited = (
        times.invited_participant_ids
        if times.invited_participant_ids is not None
        else [uuid.UUID(u) for u in appointment.invited_participant_ids]
    )
    max_participants = times.max_participants or appointment.max_participants
    if len(invited) > max_participants - 2:
        raise InvalidRequest(
            f"max_participants: {max_participants} leaves no room for {len(invited)} invited",
            field="max_participants",
        )
    await _require_invitees(db, invited, appointment.clinician_id, appointment.client_id)
    await repository.lock_clinician_schedule(db, appointment.clinician_id)
    await _refuse_overlap(
        db,
        appointment.clinician_id,
        times.starts_at,
        times.ends_at,
        excluding=appointment.id,
        name_it=role == "clinician",
    )
    if role != "clinician":
        await _require_free_slot(
            db,
            appointment.clinician_id,
            times.starts_at,
            times.ends_at,
            rules,
            excluding=appointment.id,
        )
    appointment.starts_at = times.starts_at.astimezone(UTC)
    appointment.ends_at = times.ends_at.astimezone(UTC)
    appointment.max_participants = max_participants
    appointment.invited_participant_ids = [str(u) for u in invited]
    add_event(
        db,
        AppointmentRescheduled(
            **_change_event(appointment),
            max_participants=max_participants,
            invited_participant_ids=invited,
        ),
        source=SOURCE,
    )
    await audit.record(db, principal, "update", "appointment", [appointment.id])
    return _appointment_view(appointment)


async def cancel_appointment(
    db: AsyncSession, principal: Principal, appointment_id: uuid.UUID
) -> AppointmentView:
    """Either party (or a partner app with ``appointments:write``) cancels an appointment
    that has not happened yet."""
    appointment, role = await _appointment_of_party(db, principal, appointment_id)
    _require_open(appointment)
    appointment.status = "cancelled"
    record = await records.get_session_record(db, appointment.session_id)
    if record is not None and record.ended_at is None:
        record.status = "cancelled"
    add_event(
        db,
        AppointmentCancelled(**_change_event(appointment), cancelled_by=role),
        source=SOURCE,
    )
    await audit.record(db, principal, "update", "appointment", [appointment.id])
    return _appointment_view(appointment)


async def mark_no_show(
    db: AsyncSession, principal: Principal, appointment_id: uuid.UUID
) -> AppointmentView:
    """The clinician records that the client did not come, once the start time has passed."""
    if is_partner(principal):
        raise Forbidden("only the clinician records a no-show")
    appointment, role = await _appointment_of_party(db, principal, appointment_id)
    if role != "clinician":
        raise Forbidden("only the clinician records a no-show")
    _require_open(appointment)
    if appointment.starts_at > utc_now():
        raise AppointmentClosed(f"appointment {appointment.id} has not started yet")
    set_no_show(db, appointment)
    await audit.record(db, principal, "update", "appointment", [appointment.id])
    return _appointment_view(appointment)


def set_no_show(db: AsyncSession, appointment: Appointment) -> None:
    """Mark the appointment a no-show and publish it (a clinician's mark, or a session that
    ended with the client never there)."""
    appointment.status = "noshow"
    add_event(db, AppointmentNoShow(**_change_event(appointment)), source=SOURCE)


# What a session's record tells its appointment


async def note_client_checked_in(db: AsyncSession, appointment_id: uuid.UUID) -> None:
    """The client entered the session's waiting room: a booked appointment is checked in."""
    appointment = await repository.get_appointment(db, appointment_id)
    if appointment is not None and appointment.status == "booked":
        appointment.status = "checked-in"


async def close_appointment(db: AsyncSession, appointment_id: uuid.UUID, no_show: bool) -> None:
    """The session is over: an appointment still open is fulfilled, or a no-show when the
    client never came."""
    appointment = await repository.get_appointment(db, appointment_id)
    if appointment is None or appointment.status not in OPEN_STATUSES:
        return
    if no_show:
        set_no_show(db, appointment)
    else:
        appointment.status = "fulfilled"


def _require_future(starts_at: datetime) -> None:
    if starts_at < utc_now() - BOOKING_GRACE:
        raise InvalidRequest(
            f"starts_at: {starts_at.isoformat()} is in the past", field="starts_at"
        )


# Reminders


async def send_due_reminders(db: AsyncSession, now: datetime, lead_hours: Sequence[float]) -> int:
    """Queue the reminders that have come due by ``now``; returns how many were queued.

    A reminder is due ``lead`` hours before a booked appointment starts and goes out once per
    appointment, lead time and start time (stored in ``reminders_sent``, so a restart sends
    nothing twice; a rescheduled appointment is reminded of its new time; a cancelled one,
    or one already under way, of nothing). When several lead times have passed at once
    (records was down, or the appointment moved closer), only the shortest goes out; a lead
    time that had passed before the appointment was booked is skipped.
    """
    if not lead_hours:
        return 0
    leads = sorted({round(hours * 60) for hours in lead_hours})
    appointments = await repository.appointments_due_for_reminder(
        db, now, now + timedelta(minutes=leads[-1])
    )
    sent = await repository.reminders_sent_for(db, [a.id for a in appointments])
    queued = 0
    for appointment in appointments:
        due = [
            lead
            for lead in leads
            if appointment.starts_at - timedelta(minutes=lead) <= now
            and (appointment.id, lead, appointment.starts_at) not in sent
        ]
        if not due:
            continue
        shortest = due[0]
        for lead in due:
            records.add(
                db,
                ReminderSent(
                    appointment_id=appointment.id,
                    lead_minutes=lead,
                    starts_at=appointment.starts_at,
                ),
            )
        reminder_at = appointment.starts_at - timedelta(minutes=shortest)
        if reminder_at < appointment.created_at:
            continue
        add_event(
            db,
            AppointmentReminderDue(
                appointment_id=appointment.id,
                session_id=appointment.session_id,
                clinician_id=appointment.clinician_id,
                client_id=appointment.client_id,
                starts_at=appointment.starts_at,
                ends_at=appointment.ends_at,
                lead_hours=shortest / 60,
                at=now,
            ),
            source=SOURCE,
        )
        queued += 1
    return queued
