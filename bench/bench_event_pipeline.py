"""Events per second from outbox through Kafka into a consumer's database.

Compared, in the same run on the same broker, with a bare aiokafka baseline that produces and
consumes the same records with no database at all. Prints figures; passes or fails nothing.

    uv run python bench/bench_event_pipeline.py [--events 20000] [--sqlite] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from bench import _table
from shared.db import Database
from shared.events.catalog import UserRegistered
from shared.events.envelope import encode
from shared.events.inbox import ProcessedEvent
from shared.events.kafka import EventConsumer, EventPublisher, EventRouter
from shared.events.outbox import OutboxMessage, OutboxRelay, add_event


class BenchEffect(SQLModel, table=True):
    __tablename__ = "bench_effect"
    row: int | None = Field(default=None, primary_key=True)
    user_id: uuid.UUID


def _payload() -> UserRegistered:
    return UserRegistered(user_id=uuid.uuid4(), role="client", registered_at=datetime.now(UTC))


async def baseline(bootstrap: str, count: int) -> float:
    """Bare aiokafka: produce ``count`` records and consume them back, no database."""
    topic = f"bench-baseline-{uuid.uuid4().hex[:6]}"
    records = [encode(_payload(), source="/bench") for _ in range(count)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=topic,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await producer.start()
    await consumer.start()
    started = time.perf_counter()
    futures = [await producer.send(topic, r.value, key=r.key, headers=r.headers) for r in records]
    await asyncio.gather(*futures)
    seen = 0
    while seen < count:
        batch = await consumer.getmany(timeout_ms=500, max_records=500)
        for partition, items in batch.items():
            seen += len(items)
            await consumer.commit({partition: items[-1].offset + 1})
    elapsed = time.perf_counter() - started
    await producer.stop()
    await consumer.stop()
    return count / elapsed


async def pipeline(bootstrap: str, producer_url: str, consumer_url: str, count: int) -> float:
    """Outbox rows → relay → Kafka → EventConsumer → effect + inbox rows, end to end."""
    producer_db, consumer_db = Database(producer_url), Database(consumer_url)
    async with producer_db.engine.begin() as c:
        await c.run_sync(SQLModel.metadata.create_all, tables=[OutboxMessage.__table__])  # type: ignore[attr-defined]
    async with consumer_db.engine.begin() as c:
        await c.run_sync(
            SQLModel.metadata.create_all,
            tables=[BenchEffect.__table__, ProcessedEvent.__table__],  # type: ignore[attr-defined]
        )
    # Outbox rows written up front (in transactions of 500), so the figure is the relay and
    # the consumer, not the writers.
    for start in range(0, count, 500):
        async with producer_db.unit_of_work() as session:
            for _ in range(min(500, count - start)):
                add_event(session, _payload(), source="/bench")

    async def apply(session: AsyncSession, event: UserRegistered) -> None:
        session.add(BenchEffect(user_id=event.user_id))

    router = EventRouter()
    router.on(UserRegistered, apply)

    publisher = EventPublisher(bootstrap, client_id="bench-relay")
    dlq = EventPublisher(bootstrap, client_id="bench-dlq")
    relay = OutboxRelay(producer_db, publisher, batch_size=1000)
    consumer = EventConsumer(
        name=f"bench-{uuid.uuid4().hex[:6]}",
        router=router,
        database=consumer_db,
        publisher=dlq,
        bootstrap_servers=bootstrap,
    )
    consumer_task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(consumer.assigned.wait(), 60)
    started = time.perf_counter()
    relay_task = asyncio.create_task(relay.run())
    while consumer.stats.applied < count:
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    for task in (relay_task, consumer_task):
        task.cancel()
    await asyncio.gather(relay_task, consumer_task, return_exceptions=True)
    await consumer.close()
    await publisher.close()
    await dlq.close()
    await producer_db.dispose()
    await consumer_db.dispose()
    return count / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does it still run")
    args = parser.parse_args()
    if args.quick:
        args.events = 300
    with contextlib.ExitStack() as servers:
        bootstrap = servers.enter_context(_table.kafka())
        if args.sqlite:
            tmp = Path(servers.enter_context(tempfile.TemporaryDirectory()))
            urls = [f"sqlite+aiosqlite:///{tmp / n}.db" for n in ("producer", "consumer")]
        else:
            urls = servers.enter_context(_table.postgres("bench_producer", "bench_consumer"))
        # Warm up the broker (topic creation, group coordinator) before measuring.
        await baseline(bootstrap, min(1000, args.events))
        bare = await baseline(bootstrap, args.events)
        ours = await pipeline(bootstrap, urls[0], urls[1], args.events)
    database = "SQLite" if args.sqlite else "PostgreSQL"
    _table.report(
        [
            _table.Figure(
                bench="event_pipeline",
                name=f"outbox → Kafka → inbox+effect ({database})",
                value=ours,
                unit="events/s",
                samples=args.events,
                target="≥ 5,000/s and ≥ 0.4× bare",
                baseline=bare,
                baseline_name="bare aiokafka",
            )
        ]
    )
    print(f"events: {args.events}, database: {database}")
    print(f"baseline  bare aiokafka produce+consume : {bare:9,.0f} events/s")
    print(f"rapport   outbox → Kafka → inbox+effect : {ours:9,.0f} events/s")
    print(f"ratio     rapport / baseline            : {ours / bare:9.2f}")
    print("target    ≥ 5,000 events/s (DESIGN.md)")


if __name__ == "__main__":
    asyncio.run(main())
