"""Reading a goal's agreements and its update history."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import GoalAgreement, GoalUpdate


async def list_goal_agreements(db: AsyncSession, goal_id: uuid.UUID) -> Sequence[GoalAgreement]:
    query = (
        select(GoalAgreement)
        .where(GoalAgreement.goal_id == goal_id)
        .order_by(col(GoalAgreement.agreed_at), col(GoalAgreement.party_role))
    )
    return (await db.exec(query)).all()


async def list_goal_updates(db: AsyncSession, goal_id: uuid.UUID) -> Sequence[GoalUpdate]:
    """A goal's whole history, corrected entries included, oldest first."""
    query = (
        select(GoalUpdate)
        .where(GoalUpdate.goal_id == goal_id)
        .order_by(col(GoalUpdate.recorded_at), col(GoalUpdate.id))
    )
    return (await db.exec(query)).all()
