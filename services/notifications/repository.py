"""The notifications service's SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.models import CalendarEntry, Notification, Preference, Status


async def add_notification(session: AsyncSession, notification: Notification) -> bool:
    """Insert ``notification`` unless one for its event and recipient exists; whether it did.

    The inbox already keeps one event from being applied twice; this constraint is the sent
    log's own guarantee, should two handlers (or an operator's replay) name the same pair.
    """
    values = notification.model_dump()
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(Notification)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["event_id", "recipient"])
    )
    result = await session.exec(statement)
    return bool(result.rowcount)


async def lock_due(session: AsyncSession, now: datetime, limit: int) -> list[Notification]:
    """Pending notifications due by ``now``, locked so no other dispatcher claims them."""
    query = (
        select(Notification)
        .where(Notification.status == Status.PENDING, Notification.next_attempt_at <= now)
        .order_by(col(Notification.next_attempt_at))
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list((await session.exec(query)).all())


async def notification(session: AsyncSession, notification_id: uuid.UUID) -> Notification | None:
    return await session.get(Notification, notification_id)


async def next_due_at(session: AsyncSession) -> datetime | None:
    """When the earliest pending notification falls due."""
    query = select(Notification.next_attempt_at).where(Notification.status == Status.PENDING)
    return (await session.exec(query.order_by(col(Notification.next_attempt_at)).limit(1))).first()


async def failed(
    session: AsyncSession, clinician_ids: Sequence[uuid.UUID] | None, limit: int
) -> list[Notification]:
    """Notifications that failed for good, newest first; of these clinicians' when given."""
    query = select(Notification).where(Notification.status == Status.FAILED)
    if clinician_ids is not None:
        query = query.where(col(Notification.clinician_id).in_(list(clinician_ids)))
    query = query.order_by(col(Notification.finished_at).desc()).limit(limit)
    return list((await session.exec(query)).all())


async def calendar_entry(session: AsyncSession, appointment_id: uuid.UUID) -> CalendarEntry | None:
    """The appointment's calendar entry, locked for update."""
    query = select(CalendarEntry).where(CalendarEntry.appointment_id == appointment_id)
    return (await session.exec(query.with_for_update())).first()


def save(session: AsyncSession, row: CalendarEntry | Preference | Notification) -> None:
    session.add(row)


async def preference(session: AsyncSession, user_id: uuid.UUID) -> Preference | None:
    return await session.get(Preference, user_id)
