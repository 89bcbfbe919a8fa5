"""Reading and writing safety flags and safety plan versions."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlmodel import col, func, or_, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import CareRelationship, SafetyFlag, SafetyPlanVersion

UNRESOLVED = ("open", "escalated")


def add(db: AsyncSession, *rows: SafetyFlag | SafetyPlanVersion) -> None:
    """Stage rows in the unit of work (written when it commits)."""
    db.add_all(rows)


async def get_flag(db: AsyncSession, flag_id: uuid.UUID) -> SafetyFlag | None:
    return await db.get(SafetyFlag, flag_id)


async def unresolved_flags_of_clinician(
    db: AsyncSession, clinician_id: uuid.UUID
) -> Sequence[SafetyFlag]:
    query = (
        select(SafetyFlag)
        .where(SafetyFlag.clinician_id == clinician_id, col(SafetyFlag.status).in_(UNRESOLVED))
        .order_by(col(SafetyFlag.raised_at))
    )
    return (await db.exec(query)).all()


async def escalated_flags_for(db: AsyncSession, on_call_id: uuid.UUID) -> Sequence[SafetyFlag]:
    """Escalated, unacknowledged flags sent to this person, or to every admin."""
    query = (
        select(SafetyFlag)
        .where(
            SafetyFlag.status == "escalated",
            or_(
                col(SafetyFlag.escalated_to) == on_call_id,
                col(SafetyFlag.escalated_to).is_(None),
            ),
        )
        .order_by(col(SafetyFlag.escalated_at))
    )
    return (await db.exec(query)).all()


async def flags_of_client(
    db: AsyncSession, client_id: uuid.UUID, clinician_ids: Collection[uuid.UUID]
) -> Sequence[SafetyFlag]:
    query = (
        select(SafetyFlag)
        .where(SafetyFlag.client_id == client_id, col(SafetyFlag.clinician_id).in_(clinician_ids))
        .order_by(col(SafetyFlag.raised_at))
    )
    return (await db.exec(query)).all()


async def unresolved_counts(db: AsyncSession, clinician_id: uuid.UUID) -> dict[uuid.UUID, int]:
    query = (
        select(SafetyFlag.client_id, func.count())
        .where(SafetyFlag.clinician_id == clinician_id, col(SafetyFlag.status).in_(UNRESOLVED))
        .group_by(col(SafetyFlag.client_id))
    )
    return {client_id: int(count) for client_id, count in (await db.exec(query)).all()}


async def overdue_flags(db: AsyncSession, now: datetime, limit: int = 200) -> Sequence[SafetyFlag]:
    query = (
        select(SafetyFlag)
        .where(SafetyFlag.status == "open", col(SafetyFlag.due_at) <= now)
        .order_by(col(SafetyFlag.due_at))
        .limit(limit)
    )
    return (await db.exec(query)).all()


async def claim_escalation(
    db: AsyncSession, flag_id: uuid.UUID, at: datetime, to: uuid.UUID | None
) -> bool:
    """Mark an open flag escalated; True if this call did.

    One conditional UPDATE, so two records processes (or an acknowledgement racing the
    loop) cannot both act on the flag: the second matches nothing.
    """
    result = await db.exec(
        update(SafetyFlag)
        .where(col(SafetyFlag.id) == flag_id, col(SafetyFlag.status) == "open")
        .values(status="escalated", escalated_at=at, escalated_to=to)
    )
    return bool(result.rowcount)


async def latest_plan(db: AsyncSession, client_id: uuid.UUID) -> SafetyPlanVersion | None:
    query = (
        select(SafetyPlanVersion)
        .where(SafetyPlanVersion.client_id == client_id)
        .order_by(col(SafetyPlanVersion.version).desc())
        .limit(1)
    )
    return (await db.exec(query)).first()


async def plan_version(
    db: AsyncSession, client_id: uuid.UUID, version: int
) -> SafetyPlanVersion | None:
    return await db.get(SafetyPlanVersion, (client_id, version))


async def plan_versions(db: AsyncSession, client_id: uuid.UUID) -> Sequence[SafetyPlanVersion]:
    query = (
        select(SafetyPlanVersion)
        .where(SafetyPlanVersion.client_id == client_id)
        .order_by(col(SafetyPlanVersion.version))
    )
    return (await db.exec(query)).all()


async def first_active_relationship(
    db: AsyncSession, client_id: uuid.UUID
) -> CareRelationship | None:
    """The client's longest-standing active care relationship."""
    query = (
        select(CareRelationship)
        .where(CareRelationship.client_id == client_id, CareRelationship.status == "active")
        .order_by(col(CareRelationship.started_at))
        .limit(1)
    )
    return (await db.exec(query)).first()
