"""Reading and writing audit entries."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import AuditEntry


def add(db: AsyncSession, *entries: AuditEntry) -> None:
    """Stage new entries in the unit of work (they are written when it commits)."""
    db.add_all(entries)


async def query_audit(
    db: AsyncSession,
    *,
    after_id: int,
    limit: int,
    actor_id: uuid.UUID | None,
    resource_type: str | None,
    resource_id: str | None,
) -> Sequence[AuditEntry]:
    query = select(AuditEntry).where(col(AuditEntry.id) > after_id)
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    if resource_type is not None:
        query = query.where(AuditEntry.resource_type == resource_type)
    if resource_id is not None:
        query = query.where(AuditEntry.resource_id == resource_id)
    return (await db.exec(query.order_by(col(AuditEntry.id)).limit(limit))).all()
