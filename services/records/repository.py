"""All of the records service's SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func
from sqlmodel import SQLModel, col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import (
    Appointment,
    Goal,
    GoalUpdate,
    KnownUser,
    SessionAttendance,
    SessionRecord,
)


def add(db: AsyncSession, *rows: SQLModel) -> None:
    """Stage new rows in the unit of work (they are written when it commits)."""
    db.add_all(rows)


async def get_known_user(db: AsyncSession, user_id: uuid.UUID) -> KnownUser | None:
    return await db.get(KnownUser, user_id)


async def lock_clinician_schedule(db: AsyncSession, clinician_id: uuid.UUID) -> None:
    """Serialize bookings of one clinician until the unit of work ends.

    Without it two concurrent bookings could both see a free slot. PostgreSQL takes a
    transaction-scoped advisory lock; SQLite has a single writer already, and a writer whose
    snapshot went stale fails rather than double-books.
    """
    if db.get_bind().dialect.name != "postgresql":
        return
    key = int.from_bytes(clinician_id.bytes[:8], "big", signed=True)
    await db.exec(select(func.pg_advisory_xact_lock(key)))


async def has_overlapping_appointment(
    db: AsyncSession, clinician_id: uuid.UUID, starts_at: datetime, ends_at: datetime
) -> bool:
    """Whether the clinician has a booked appointment sharing any time with the interval."""
    query = (
        select(Appointment.id)
        .where(
            Appointment.clinician_id == clinician_id,
            Appointment.status == "booked",
            col(Appointment.starts_at) < ends_at,
            col(Appointment.ends_at) > starts_at,
        )
        .limit(1)
    )
    return (await db.exec(query)).first() is not None


async def list_appointments_of(db: AsyncSession, user_id: uuid.UUID) -> Sequence[Appointment]:
    """Appointments where the user is the clinician or the client, earliest first."""
    query = (
        select(Appointment)
        .where(or_(Appointment.clinician_id == user_id, Appointment.client_id == user_id))
        .order_by(col(Appointment.starts_at), col(Appointment.id))
    )
    return (await db.exec(query)).all()


async def get_goal(db: AsyncSession, goal_id: uuid.UUID) -> Goal | None:
    return await db.get(Goal, goal_id)


async def list_goals(
    db: AsyncSession, *, clinician_id: uuid.UUID | None = None, client_id: uuid.UUID | None = None
) -> Sequence[Goal]:
    """Goals filtered by clinician and/or client, oldest first."""
    query = select(Goal)
    if clinician_id is not None:
        query = query.where(Goal.clinician_id == clinician_id)
    if client_id is not None:
        query = query.where(Goal.client_id == client_id)
    return (await db.exec(query.order_by(col(Goal.created_at), col(Goal.id)))).all()


async def get_session_record(db: AsyncSession, session_id: uuid.UUID) -> SessionRecord | None:
    return await db.get(SessionRecord, session_id)


async def get_attendance(
    db: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID
) -> SessionAttendance | None:
    return await db.get(SessionAttendance, (session_id, user_id))


async def list_attendance(db: AsyncSession, session_id: uuid.UUID) -> Sequence[SessionAttendance]:
    """Everyone signaling saw in the session, in order of arrival."""
    query = (
        select(SessionAttendance)
        .where(SessionAttendance.session_id == session_id)
        .order_by(col(SessionAttendance.joined_at), col(SessionAttendance.user_id))
    )
    return (await db.exec(query)).all()


async def list_goal_updates_in_session(
    db: AsyncSession, session_id: uuid.UUID
) -> Sequence[GoalUpdate]:
    query = (
        select(GoalUpdate)
        .where(GoalUpdate.session_id == session_id)
        .order_by(col(GoalUpdate.recorded_at), col(GoalUpdate.id))
    )
    return (await db.exec(query)).all()


async def count_goal_updates_in_session(db: AsyncSession, session_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(GoalUpdate).where(GoalUpdate.session_id == session_id)
    return (await db.exec(query)).one()
