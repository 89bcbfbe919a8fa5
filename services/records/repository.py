"""All of the records service's SQL."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import (
    Appointment,
    CareRelationship,
    CheckIn,
    Goal,
    GoalUpdate,
    KnownUser,
    PartnerGrantRevocation,
    SessionAttendance,
    SessionRecord,
)


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


async def list_attendance(db: AsyncSession, session_id: uuid.UUID) -> Sequence[SessionAttendance]:
    """Everyone signaling saw in the session, in order of arrival."""
    query = (
        select(SessionAttendance)
        .where(SessionAttendance.session_id == session_id)
        .order_by(col(SessionAttendance.joined_at), col(SessionAttendance.user_id))
    )
    return (await db.exec(query)).all()


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
