"""All of the records service's SQL."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import func, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import (
    Appointment,
    CallQualitySample,
    CareRelationship,
    CheckIn,
    Goal,
    GoalUpdate,
    KnownUser,
    PartnerGrantRevocation,
    SessionAttendance,
    SessionRecord,
)

# Appointments in these statuses no longer hold their time.
FREED_STATUSES = ("cancelled", "noshow", "entered-in-error")


def add(db: AsyncSession, *rows: SQLModel) -> None:
    """Stage new rows in the unit of work (they are written when it commits)."""
    db.add_all(rows)


async def get_known_user(db: AsyncSession, user_id: uuid.UUID) -> KnownUser | None:
    return await db.get(KnownUser, user_id)


async def partner_revocations(
    db: AsyncSession, partner_id: str, clinician_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    """When each of ``clinician_ids`` last revoked the partner app's access (if ever)."""
    if not clinician_ids:
        return {}
    rows = await db.exec(
        select(PartnerGrantRevocation.clinician_id, PartnerGrantRevocation.revoked_at).where(
            PartnerGrantRevocation.partner_id == partner_id,
            col(PartnerGrantRevocation.clinician_id).in_(clinician_ids),
        )
    )
    return dict(rows.all())


async def get_partner_revocation(
    db: AsyncSession, partner_id: str, clinician_id: uuid.UUID
) -> PartnerGrantRevocation | None:
    return await db.get(PartnerGrantRevocation, (partner_id, clinician_id))


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


async def get_appointment(db: AsyncSession, appointment_id: uuid.UUID) -> Appointment | None:
    return await db.get(Appointment, appointment_id)


async def get_goal(db: AsyncSession, goal_id: uuid.UUID) -> Goal | None:
    return await db.get(Goal, goal_id)


async def list_goals(
    db: AsyncSession,
    *,
    clinician_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
    clinician_ids: Collection[uuid.UUID] | None = None,
) -> Sequence[Goal]:
    """Goals filtered by clinician (or any of ``clinician_ids``) and/or client, oldest first."""
    query = select(Goal)
    if clinician_id is not None:
        query = query.where(Goal.clinician_id == clinician_id)
    if clinician_ids is not None:
        query = query.where(col(Goal.clinician_id).in_(clinician_ids))
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


async def get_active_relationship(
    db: AsyncSession, clinician_id: uuid.UUID, client_id: uuid.UUID
) -> CareRelationship | None:
    query = select(CareRelationship).where(
        CareRelationship.clinician_id == clinician_id,
        CareRelationship.client_id == client_id,
        CareRelationship.status == "active",
    )
    return (await db.exec(query)).first()


async def get_goal_update(db: AsyncSession, update_id: uuid.UUID) -> GoalUpdate | None:
    return await db.get(GoalUpdate, update_id)


async def recent_check_ins(
    db: AsyncSession, clinician_id: uuid.UUID, client_id: uuid.UUID, kind: str, limit: int
) -> Sequence[CheckIn]:
    """The pair's newest check-ins of one kind, newest first."""
    query = (
        select(CheckIn)
        .where(
            CheckIn.clinician_id == clinician_id,
            CheckIn.client_id == client_id,
            CheckIn.kind == kind,
        )
        .order_by(col(CheckIn.submitted_at).desc(), col(CheckIn.id).desc())
        .limit(limit)
    )
    return (await db.exec(query)).all()


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
