"""A consumer records a polled batch's events in its inbox with one statement, exactly once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka.structs import ConsumerRecord
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, select

from shared.db import Database
from shared.events.catalog import UserRegistered
from shared.events.envelope import encode
from shared.events.inbox import ProcessedEvent
from shared.events.kafka import EventConsumer, EventPublisher, EventRouter


def _records(count: int) -> list[ConsumerRecord[bytes, bytes]]:
    records = []
    for offset in range(count):
        payload = UserRegistered(
            user_id=uuid.uuid4(),
            role="client",  # type: ignore[arg-type]
            registered_at=datetime.now(UTC),
        )
        outgoing = encode(payload, source="/test")
        records.append(
            ConsumerRecord(
                topic="rapport.identity",
                partition=0,
                offset=offset,
                timestamp=0,
                timestamp_type=0,
                key=outgoing.key,
                value=outgoing.value,
                checksum=None,
                serialized_key_size=len(outgoing.key or b""),
                serialized_value_size=len(outgoing.value),
                headers=tuple(outgoing.headers),
            )
        )
    return records


async def test_a_batch_is_marked_processed_in_one_statement_and_applied_once(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'inbox.db'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(
            SQLModel.metadata.create_all,
            tables=[ProcessedEvent.__table__],  # type: ignore[attr-defined]
        )
    applied: list[uuid.UUID] = []

    async def apply(_: object, registered: UserRegistered) -> None:
        applied.append(registered.user_id)

    router = EventRouter()
    router.on(UserRegistered, apply)
    consumer = EventConsumer(
        name="inbox-test",
        router=router,
        database=database,
        publisher=EventPublisher("127.0.0.1:1", client_id="unused"),
        bootstrap_servers="127.0.0.1:1",
    )
    inbox_inserts: list[str] = []

    def count(_conn, _cursor, statement: str, *_: object) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO INBOX"):
            inbox_inserts.append(statement)

    records = _records(50)
    event.listen(Engine, "before_cursor_execute", count)
    try:
        await consumer._apply_batch(records)
        # Redelivered (a rebalance before the offsets were committed): nothing happens twice.
        await consumer._apply_batch(records)
    finally:
        event.remove(Engine, "before_cursor_execute", count)

    try:
        async with database.unit_of_work() as db:
            marked = (await db.exec(select(ProcessedEvent.event_id))).all()
        assert len(applied) == len(set(applied)) == 50
        assert len(marked) == 50
        assert (consumer.stats.applied, consumer.stats.duplicates) == (50, 50)
        assert len(inbox_inserts) == 1
    finally:
        await database.dispose()
