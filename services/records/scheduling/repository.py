"""The SQL of appointments, availability and reminders."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import false, func, update
from sqlmodel import SQLModel, col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import (
    Appointment,
    Availability,
    AvailabilityException,
    ReminderSent,
)

# Appointments in these statuses no longer hold their time.
FREED_STATUSES = ("cancelled", "noshow", "entered-in-error")


async def lock_clinician_schedule(db: AsyncSession, clinician_id: uuid.UUID) -> None:
    """Serialize bookings of one clinician until the unit of work ends.

    Without it two concurrent bookings could both see a free slot. PostgreSQL takes a
    transaction-scoped advisory lock. SQLite has one writer, but its Python driver begins a
    transaction only at the first write, so the overlap check would read outside any
    transaction and every concurrent booking could see the slot free: a write that changes
    nothing takes the database's write lock here instead (waiting for the writer ahead, up
    to the busy timeout), and the reads that follow see every booking committed before it.
    """
    if db.get_bind().dialect.name == "sqlite":
        await db.exec(update(Appointment).where(false()).values(id=Appointment.id))
        return
    key = int.from_bytes(clinician_id.bytes[:8], "big", signed=True)
    await db.exec(select(func.pg_advisory_xact_lock(key)))


async def overlapping_appointment(
    db: AsyncSession,
    clinician_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    excluding: uuid.UUID | None = None,
) -> Appointment | None:
    """The clinician's earliest live appointment sharing any time with the interval.

    Cancelled and no-show appointments free their time.
    """
    query = select(Appointment).where(
        Appointment.clinician_id == clinician_id,
        col(Appointment.status).not_in(FREED_STATUSES),
        col(Appointment.starts_at) < ends_at,
        col(Appointment.ends_at) > starts_at,
    )
    if excluding is not None:
        query = query.where(Appointment.id != excluding)
    return (await db.exec(query.order_by(col(Appointment.starts_at)).limit(1))).first()


async def busy_intervals(
    db: AsyncSession,
    clinician_id: uuid.UUID,
    starts_from: datetime,
    ends_before: datetime,
    excluding: uuid.UUID | None = None,
) -> list[tuple[datetime, datetime]]:
    """The times the clinician's live appointments hold within the window."""
    query = select(Appointment.starts_at, Appointment.ends_at).where(
        Appointment.clinician_id == clinician_id,
        col(Appointment.status).not_in(FREED_STATUSES),
        col(Appointment.starts_at) < ends_before,
        col(Appointment.ends_at) > starts_from,
    )
    if excluding is not None:
        query = query.where(Appointment.id != excluding)
    return [(row[0], row[1]) for row in (await db.exec(query)).all()]


async def get_availability(db: AsyncSession, clinician_id: uuid.UUID) -> Availability | None:
    return await db.get(Availability, clinician_id)


async def list_availability_exceptions(
    db: AsyncSession, clinician_id: uuid.UUID
) -> Sequence[AvailabilityException]:
    query = (
        select(AvailabilityException)
        .where(AvailabilityException.clinician_id == clinician_id)
        .order_by(col(AvailabilityException.first_day), col(AvailabilityException.created_at))
    )
    return (await db.exec(query)).all()


async def get_availability_exception(
    db: AsyncSession, exception_id: uuid.UUID
) -> AvailabilityException | None:
    return await db.get(AvailabilityException, exception_id)


async def delete(db: AsyncSession, row: SQLModel) -> None:
    await db.delete(row)


async def appointments_due_for_reminder(
    db: AsyncSession, starts_after: datetime, starts_by: datetime
) -> Sequence[Appointment]:
    """Booked appointments starting in ``(starts_after, starts_by]``, earliest first."""
    query = (
        select(Appointment)
        .where(
            Appointment.status == "booked",
            col(Appointment.starts_at) > starts_after,
            col(Appointment.starts_at) <= starts_by,
        )
        .order_by(col(Appointment.starts_at), col(Appointment.id))
    )
    return (await db.exec(query)).all()


async def reminders_sent_for(
    db: AsyncSession, appointment_ids: Sequence[uuid.UUID]
) -> set[tuple[uuid.UUID, int, datetime]]:
    """The (appointment, lead minutes, start time) reminders already queued."""
    if not appointment_ids:
        return set()
    query = select(
        ReminderSent.appointment_id, ReminderSent.lead_minutes, ReminderSent.starts_at
    ).where(col(ReminderSent.appointment_id).in_(appointment_ids))
    return {(row[0], row[1], row[2]) for row in (await db.exec(query)).all()}


async def list_appointments_of(db: AsyncSession, user_id: uuid.UUID) -> Sequence[Appointment]:
    """Appointments where the user is the clinician or the client, earliest first."""
    query = (
        select(Appointment)
        .where(or_(Appointment.clinician_id == user_id, Appointment.client_id == user_id))
        .order_by(col(Appointment.starts_at), col(Appointment.id))
    )
    return (await db.exec(query)).all()


async def list_appointments_of_clinicians(
    db: AsyncSession, clinician_ids: Collection[uuid.UUID]
) -> Sequence[Appointment]:
    """The appointments of any of these clinicians, earliest first."""
    query = (
        select(Appointment)
        .where(col(Appointment.clinician_id).in_(clinician_ids))
        .order_by(col(Appointment.starts_at), col(Appointment.id))
    )
    return (await db.exec(query)).all()


async def get_appointment(db: AsyncSession, appointment_id: uuid.UUID) -> Appointment | None:
    return await db.get(Appointment, appointment_id)
