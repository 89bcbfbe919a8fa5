"""Appointments: booking, rescheduling, cancelling, no-shows, time zones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import repository
from services.records.errors import (
    AppointmentClosed,
    AppointmentNotFound,
    AppointmentOverlaps,
)
from services.records.models import (
    Appointment,
    SessionRecord,
)
from services.records.schemas import (
    AppointmentView,
    NewAppointment,
    NewTimes,
)
from services.records.service.access import (
    BOOKING_GRACE,
    OPEN_STATUSES,
    SOURCE,
    PartyRole,
    _audit,
    _party_role,
    _require_client,
)
from services.records.service.partnership import _start_relationship
from shared.db import utc_now
from shared.errors import Forbidden, InvalidRequest
from shared.events.catalog import (
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentRescheduled,
    AppointmentScheduled,
)
from shared.events.outbox import add_event
from shared.tokens import Principal

# Appointments


async def book_appointment(
    db: AsyncSession, principal: Principal, booking: NewAppointment
) -> AppointmentView:
    """Book an appointment for the calling clinician, with its session record, and announce it."""
    principal.require_role("clinician")
    clinician_id = principal.user_id
    await _require_client(db, booking.client_id)
    _require_future(booking.starts_at)
    await repository.lock_clinician_schedule(db, clinician_id)
    # The first booking with a client starts the care relationship (until invitations exist).
    relationship, created = await _start_relationship(
        db, clinician_id, booking.client_id, "booking"
    )
    if created:
        await _audit(db, principal, "create", "care_relationship", [relationship.id])
    if await repository.has_overlapping_appointment(
        db, clinician_id, booking.starts_at, booking.ends_at
    ):
        raise AppointmentOverlaps(
            f"starts_at: you already have an appointment between "
            f"{booking.starts_at.isoformat()} and {booking.ends_at.isoformat()}",
            field="starts_at",
        )
    appointment = Appointment(
        session_id=uuid.uuid4(),
        clinician_id=clinician_id,
        client_id=booking.client_id,
        starts_at=booking.starts_at.astimezone(UTC),
        ends_at=booking.ends_at.astimezone(UTC),
    )
    record = SessionRecord(
        session_id=appointment.session_id,
        appointment_id=appointment.id,
        clinician_id=clinician_id,
        client_id=booking.client_id,
    )
    repository.add(db, appointment, record)
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
        ),
        source=SOURCE,
    )
    await _audit(db, principal, "create", "appointment", [appointment.id])
    await _audit(db, principal, "create", "session_record", [record.session_id])
    return _appointment_view(appointment)


async def list_appointments(
    db: AsyncSession, principal: Principal, time_zone: str | None = None
) -> list[AppointmentView]:
    """The caller's appointments, as clinician or as client, in ``time_zone`` if given."""
    principal.require_role("clinician", "client")
    zone = _zone(time_zone)
    appointments = await repository.list_appointments_of(db, principal.user_id)
    await _audit(db, principal, "read", "appointment", (a.id for a in appointments))
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
) -> tuple[Appointment, PartyRole]:
    appointment = await repository.get_appointment(db, appointment_id)
    if appointment is None:
        raise AppointmentNotFound(f"no appointment {appointment_id}")
    return appointment, _party_role(principal, appointment.clinician_id, appointment.client_id)


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
    db: AsyncSession, principal: Principal, appointment_id: uuid.UUID, times: NewTimes
) -> AppointmentView:
    """Either party moves a booked appointment to a free, future time; the session stays."""
    appointment, _ = await _appointment_of_party(db, principal, appointment_id)
    _require_open(appointment)
    if appointment.status != "booked":
        raise AppointmentClosed(f"appointment {appointment.id} has already begun")
    _require_future(times.starts_at)
    await repository.lock_clinician_schedule(db, appointment.clinician_id)
    if await repository.has_overlapping_appointment(
        db, appointment.clinician_id, times.starts_at, times.ends_at, excluding=appointment.id
    ):
        raise AppointmentOverlaps(
            f"starts_at: the clinician already has an appointment between "
            f"{times.starts_at.isoformat()} and {times.ends_at.isoformat()}",
            field="starts_at",
        )
    appointment.starts_at = times.starts_at.astimezone(UTC)
    appointment.ends_at = times.ends_at.astimezone(UTC)
    add_event(db, AppointmentRescheduled(**_change_event(appointment)), source=SOURCE)
    await _audit(db, principal, "update", "appointment", [appointment.id])
    return _appointment_view(appointment)


async def cancel_appointment(
    db: AsyncSession, principal: Principal, appointment_id: uuid.UUID
) -> AppointmentView:
    """Either party cancels an appointment that has not happened yet."""
    appointment, role = await _appointment_of_party(db, principal, appointment_id)
    _require_open(appointment)
    appointment.status = "cancelled"
    record = await repository.get_session_record(db, appointment.session_id)
    if record is not None and record.ended_at is None:
        record.status = "cancelled"
    add_event(
        db,
        AppointmentCancelled(**_change_event(appointment), cancelled_by=role),
        source=SOURCE,
    )
    await _audit(db, principal, "update", "appointment", [appointment.id])
    return _appointment_view(appointment)


async def mark_no_show(
    db: AsyncSession, principal: Principal, appointment_id: uuid.UUID
) -> AppointmentView:
    """The clinician records that the client did not come, once the start time has passed."""
    appointment, role = await _appointment_of_party(db, principal, appointment_id)
    if role != "clinician":
        raise Forbidden("only the clinician records a no-show")
    _require_open(appointment)
    if appointment.starts_at > utc_now():
        raise AppointmentClosed(f"appointment {appointment.id} has not started yet")
    _set_no_show(db, appointment)
    await _audit(db, principal, "update", "appointment", [appointment.id])
    return _appointment_view(appointment)


def _set_no_show(db: AsyncSession, appointment: Appointment) -> None:
    appointment.status = "noshow"
    add_event(db, AppointmentNoShow(**_change_event(appointment)), source=SOURCE)


def _require_future(starts_at: datetime) -> None:
    if starts_at < utc_now() - BOOKING_GRACE:
        raise InvalidRequest(
            f"starts_at: {starts_at.isoformat()} is in the past", field="starts_at"
        )
