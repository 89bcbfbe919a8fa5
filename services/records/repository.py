"""The SQL more than one of records' sub-domains needs; each package keeps the rest in its own
``repository.py``.

What stays here is what access decides with (access sits below every sub-domain, so it cannot
ask one of them), the session record every sub-domain hangs its rows on, and the goal reads
that goals, sessions and partnership all make.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime

from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import (
    CareRelationship,
    Goal,
    GoalUpdate,
    KnownUser,
    PartnerGrantRevocation,
    SessionRecord,
)

# Staging in the unit of work, for every package.


def add(db: AsyncSession, *rows: SQLModel) -> None:
    """Stage new rows in the unit of work (they are written when it commits)."""
    db.add_all(rows)


# What access decides with: who is a registered client, which care relationships are active,
# which partner grants were revoked. Scheduling and partnership read relationships too.


async def get_known_user(db: AsyncSession, user_id: uuid.UUID) -> KnownUser | None:
    return await db.get(KnownUser, user_id)


async def get_active_relationship(
    db: AsyncSession, clinician_id: uuid.UUID, client_id: uuid.UUID
) -> CareRelationship | None:
    query = select(CareRelationship).where(
        CareRelationship.clinician_id == clinician_id,
        CareRelationship.client_id == client_id,
        CareRelationship.status == "active",
    )
    return (await db.exec(query)).first()


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


# The session record: appointments, notes, check-ins and goal updates all refer to a session,
# and each of those packages checks the session they name.


async def get_session_record(db: AsyncSession, session_id: uuid.UUID) -> SessionRecord | None:
    return await db.get(SessionRecord, session_id)


# Goals: goals' own reads, also made by sessions (progress shared in a call names a goal and
# an update id) and by partnership (the plan's readiness counts the pair's goals; goals builds
# on partnership, so partnership cannot ask goals for them).


async def get_goal(db: AsyncSession, goal_id: uuid.UUID) -> Goal | None:
    return await db.get(Goal, goal_id)


async def get_goal_update(db: AsyncSession, update_id: uuid.UUID) -> GoalUpdate | None:
    return await db.get(GoalUpdate, update_id)


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
