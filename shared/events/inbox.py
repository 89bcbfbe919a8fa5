"""The idempotent inbox: which events a consumer has already applied.

The consumer records each event id in the same transaction as the event's effect, so a
redelivered event finds its id and is skipped: redelivery is normal, double effects are bugs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import insert
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import UtcDateTime, utc_now


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True, max_length=100)
    event_id: str = Field(primary_key=True, max_length=64)
    processed_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)


async def already_processed(
    session: AsyncSession, consumer: str, event_ids: Iterable[str]
) -> set[str]:
    """Which of ``event_ids`` this consumer has applied before (one query per batch)."""
    ids = list(event_ids)
    if not ids:
        return set()
    rows = await session.exec(
        select(ProcessedEvent.event_id).where(
            ProcessedEvent.consumer == consumer, col(ProcessedEvent.event_id).in_(ids)
        )
    )
    return set(rows.all())


async def mark_all_processed(
    session: AsyncSession, consumer: str, event_ids: Sequence[str]
) -> None:
    """Record a batch's events as applied, in the caller's transaction, in one statement.

    A Core insert: building an ORM object per id was 40% of the consumer's time in a
    profile of bench_event_pipeline.
    """
    if not event_ids:
        return
    now = utc_now()
    rows = [{"consumer": consumer, "event_id": i, "processed_at": now} for i in event_ids]
    await (await session.connection()).execute(insert(ProcessedEvent.__table__), rows)  # type: ignore[attr-defined]
