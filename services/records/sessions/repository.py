"""The SQL of session records: attendance, quality samples, completion, progress."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import (
    Appointment,
    CallQualitySample,
    CheckIn,
    GoalUpdate,
    SessionAttendance,
    SessionGuest,
    SessionRecord,
)


async def unannounced_ended_sessions(
    db: AsyncSession, unchanged_since: datetime, limit: int = 500
) -> Sequence[SessionRecord]:
    """Ended sessions whose completion is not announced, unchanged since the given time."""
    query = (
        select(SessionRecord)
        .where(
            col(SessionRecord.ended_at).is_not(None),
            col(SessionRecord.completion_announced_at).is_(None),
            col(SessionRecord.updated_at) <= unchanged_since,
        )
        .order_by(col(SessionRecord.updated_at))
        .limit(limit)
    )
    return (await db.exec(query)).all()


async def claim_announcement(db: AsyncSession, session_id: uuid.UUID, at: datetime) -> bool:
    """Mark the session's completion announced unless it already is; True if this call did.

    One conditional UPDATE, so two writers (the consumer and the completion loop, or two
    records processes) cannot both announce: on PostgreSQL the second waits for the first's
    row lock and then matches nothing; SQLite has a single writer.
    """
    result = await db.exec(
        update(SessionRecord)
        .where(
            col(SessionRecord.session_id) == session_id,
            col(SessionRecord.completion_announced_at).is_(None),
        )
        .values(completion_announced_at=at)
    )
    return bool(result.rowcount)


async def get_quality_sample(
    db: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID, at: datetime
) -> CallQualitySample | None:
    return await db.get(CallQualitySample, (session_id, user_id, at))


async def list_quality_samples(
    db: AsyncSession, session_id: uuid.UUID
) -> Sequence[CallQualitySample]:
    query = (
        select(CallQualitySample)
        .where(CallQualitySample.session_id == session_id)
        .order_by(col(CallQualitySample.at), col(CallQualitySample.user_id))
    )
    return (await db.exec(query)).all()


async def get_attendance(
    db: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID
) -> SessionAttendance | None:
    return await db.get(SessionAttendance, (session_id, user_id))


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


async def sessions_of_client(
    db: AsyncSession,
    client_id: uuid.UUID,
    clinician_ids: Collection[uuid.UUID] | None,
    starts_from: datetime | None,
    starts_before: datetime | None,
    offset: int,
    limit: int,
) -> Sequence[tuple[SessionRecord, Appointment]]:
    """A client's sessions with their appointments, earliest first, one page."""
    query = (
        select(SessionRecord, Appointment)
        .join(Appointment, col(Appointment.id) == col(SessionRecord.appointment_id))
        .where(SessionRecord.client_id == client_id)
    )
    if clinician_ids is not None:
        query = query.where(col(SessionRecord.clinician_id).in_(clinician_ids))
    if starts_from is not None:
        query = query.where(col(Appointment.starts_at) >= starts_from)
    if starts_before is not None:
        query = query.where(col(Appointment.starts_at) < starts_before)
    query = query.order_by(col(Appointment.starts_at), col(Appointment.id))
    return (await db.exec(query.offset(offset).limit(limit))).all()


async def goal_updates_in_sessions(
    db: AsyncSession, session_ids: Sequence[uuid.UUID]
) -> Sequence[GoalUpdate]:
    """The standing (not entered-in-error) updates of these sessions, oldest first."""
    query = (
        select(GoalUpdate)
        .where(
            col(GoalUpdate.session_id).in_(session_ids),
            col(GoalUpdate.entered_in_error_at).is_(None),
        )
        .order_by(col(GoalUpdate.recorded_at), col(GoalUpdate.id))
    )
    return (await db.exec(query)).all()


async def check_ins_in_sessions(
    db: AsyncSession, session_ids: Sequence[uuid.UUID]
) -> Sequence[CheckIn]:
    query = select(CheckIn).where(col(CheckIn.session_id).in_(session_ids))
    return (await db.exec(query)).all()


async def list_attendance(db: AsyncSession, session_id: uuid.UUID) -> Sequence[SessionAttendance]:
    """Everyone signaling saw in the session, in order of arrival."""
    query = (
        select(SessionAttendance)
        .where(SessionAttendance.session_id == session_id)
        .order_by(col(SessionAttendance.joined_at), col(SessionAttendance.user_id))
    )
    return (await db.exec(query)).all()


async def get_guest(
    db: AsyncSession, session_id: uuid.UUID, guest_id: uuid.UUID
) -> SessionGuest | None:
    return await db.get(SessionGuest, (session_id, guest_id))


async def guest_relationships(db: AsyncSession, session_id: uuid.UUID) -> dict[uuid.UUID, str]:
    """Each invited guest's relationship to the session, by guest id (revoked ones too: a
    revoked guest may have attended before)."""
    query = select(SessionGuest).where(SessionGuest.session_id == session_id)
    return {guest.guest_id: guest.relationship for guest in (await db.exec(query)).all()}
