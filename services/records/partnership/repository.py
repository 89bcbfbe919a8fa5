"""Reading care relationships and the client's values."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import CareRelationship, ClientValue


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
