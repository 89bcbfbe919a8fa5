"""Reading care relationships and the client's values."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import CareRelationship, CheckIn, ClientValue


async def get_relationship(db: AsyncSession, relationship_id: uuid.UUID) -> CareRelationship | None:
    return await db.get(CareRelationship, relationship_id)


async def list_relationships_of(db: AsyncSession, user_id: uuid.UUID) -> Sequence[CareRelationship]:
    query = (
        select(CareRelationship)
        .where(or_(CareRelationship.clinician_id == user_id, CareRelationship.client_id == user_id))
        .order_by(col(CareRelationship.started_at), col(CareRelationship.id))
    )
    return (await db.exec(query)).all()


async def get_value(db: AsyncSession, value_id: uuid.UUID) -> ClientValue | None:
    return await db.get(ClientValue, value_id)


async def list_values(db: AsyncSession, client_id: uuid.UUID) -> Sequence[ClientValue]:
    """A client's values, every revision, oldest first."""
    query = (
        select(ClientValue)
        .where(ClientValue.client_id == client_id)
        .order_by(col(ClientValue.created_at), col(ClientValue.id))
    )
    return (await db.exec(query)).all()


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
