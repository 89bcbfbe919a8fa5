"""The transactional outbox: events are rows written with the state change, then relayed.

A use case calls :func:`add_event` inside its unit of work; the row commits (or not) with the
state it describes. :class:`OutboxRelay` publishes pending rows in batches through the idempotent
producer and marks them sent. If Kafka is down the rows wait, and the relay backs off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from aiokafka.errors import KafkaError
from sqlalchemy import JSON, Column, Index, LargeBinary, func, text, update
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import Database, UtcDateTime, utc_now
from shared.events.catalog import Payload
from shared.events.envelope import encode
from shared.events.kafka import EventPublisher

log = logging.getLogger(__name__)


class OutboxMessage(SQLModel, table=True):
    """One event waiting to be (or already) published. Each service has this table."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_pending",
            "id",
            postgresql_where=text("sent_at IS NULL"),
            sqlite_where=text("sent_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=64)
    event_type: str = Field(max_length=200)
    topic: str = Field(max_length=200)
    key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    headers: list[list[str]] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utc_now, sa_type=UtcDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)


def add_event(session: AsyncSession, payload: Payload, *, source: str) -> OutboxMessage:
    """Queue ``payload`` for publication in the caller's unit of work."""
    record = encode(payload, source=source)
    event_id = dict(record.headers)["ce_id"].decode()
    row = OutboxMessage(
        event_id=event_id,
        event_type=payload.type,
        topic=record.topic,
        key=record.key,
        value=record.value,
        headers=[[k, v.decode()] for k, v in record.headers],
    )
    session.add(row)
    return row


async def pending_summary(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many rows wait to be published, and when the oldest of them was written."""
    row = (
        await session.exec(
            select(func.count(), func.min(OutboxMessage.created_at)).where(
                col(OutboxMessage.sent_at).is_(None)
            )
        )
    ).one()
    count, oldest = row
    return int(count), oldest


class OutboxRelay:
    """Publishes pending outbox rows, oldest first, in batches; never drops one."""

    def __init__(
        self,
        database: Database,
        publisher: EventPublisher,
        *,
        batch_size: int = 500,
        idle_poll_seconds: float = 0.5,
        max_backoff_seconds: float = 5.0,
    ) -> None:
        self._database = database
        self._publisher = publisher
        self._batch_size = batch_size
        self._idle_poll = idle_poll_seconds
        self._max_backoff = max_backoff_seconds
        self._wakeup = asyncio.Event()
        self._stopping = asyncio.Event()
        self._unavailable = False
        database.on_commit(self._wakeup.set)

    def wake(self) -> None:
        """Publish soon: something was just committed to the outbox."""
        self._wakeup.set()

    def stop(self) -> None:
        """Finish the batch in flight, then return from :meth:`run`."""
        self._stopping.set()
        self._wakeup.set()

    async def run(self) -> None:
        """Relay until :meth:`stop` (or cancellation)."""
        backoff = 0.1
        while not self._stopping.is_set():
            self._wakeup.clear()
            try:
                published = await self.publish_pending()
            except (KafkaError, OSError, TimeoutError, SQLAlchemyError) as exc:
                # Kafka or the database is unavailable: the rows stay pending; try again later.
                if not self._unavailable:
                    log.warning("outbox relay paused, events held: %s", type(exc).__name__)
                    self._unavailable = True
                await self._pause(self._stopping, backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            if self._unavailable:
                log.info("outbox relay resumed")
                self._unavailable = False
            backoff = 0.1
            if published < self._batch_size:
                await self._pause(self._wakeup, self._idle_poll)

    @staticmethod
    async def _pause(event: asyncio.Event, seconds: float) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; return how many were published.

        Rows the broker refused stay pending with their error recorded, and the error is
        raised after the successful ones are marked sent, so the caller backs off.
        """
        async with self._database.unit_of_work(notify=False) as session:
            query = (
                select(OutboxMessage)
                .where(col(OutboxMessage.sent_at).is_(None))
                .order_by(col(OutboxMessage.id))
                .limit(self._batch_size)
            )
            if not self._database.is_sqlite:
                # Several relays (one per replica) share the table without double work.
                query = query.with_for_update(skip_locked=True)
            rows = list((await session.exec(query)).all())
            if not rows:
                return 0
            results = await self._publisher.publish_many(
                [
                    (row.topic, row.key, row.value, [(k, v.encode()) for k, v in row.headers])
                    for row in rows
                ]
            )
            failure: BaseException | None = None
            sent: list[int] = []
            for row, result in zip(rows, results, strict=True):
                if isinstance(result, BaseException):
                    row.attempts += 1
                    row.last_error = f"{type(result).__name__}: {result}"[:500]
                    failure = failure or result
                    session.add(row)
                else:
                    assert row.id is not None
                    sent.append(row.id)
            if sent:
                # One UPDATE for the batch: the ORM's flush of a changed object per row was
                # a fifth of the relay's time in a profile of bench_event_pipeline.
                mark_sent = (
                    update(OutboxMessage.__table__)  # type: ignore[attr-defined]
                    .where(col(OutboxMessage.id).in_(sent))
                    .values(sent_at=utc_now())
                )
                await (await session.connection()).execute(mark_sent)
            published = len(sent)
        if failure is not None:
            raise failure
        return published
