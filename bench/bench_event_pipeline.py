"""Events per second from outbox through Kafka into a consumer's database.

Compared, in the same run on the same broker, with a bare aiokafka baseline that produces and
consumes the same records with no database at all. Prints figures; passes or fails nothing.

Three figures (B4):
- throughput: ``--events`` outbox rows written up front, relayed and applied, relay and
  consumer in this process;
- sustained: for ``--sustain-seconds`` a producing service (its own process: use cases
  writing events in transactions of 100, and its outbox relay, as a service runs them) writes
  as fast as the consuming service (this process) keeps up with, at most 5,000 events in
  flight; events applied per second over the whole window, and its slowest 10 s;
- latency: the producing service writes 1,000 events/s for ``--latency-seconds``: every
  10 ms one transaction with the events due by then (10, more after a slow commit); each
  event's end-to-end time is from its payload's ``registered_at`` (set just before the
  writer's commit) to the consumer's commit of its effect and inbox row.
  Baseline: bare aiokafka produce→consume at the same pace, for a third as long.

    uv run python bench/bench_event_pipeline.py [--events 20000] [--sustain-seconds 120]
        [--latency-seconds 60] [--sqlite] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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


async def _bare_clients(
    bootstrap: str, topic: str, **producer_options: Any
) -> tuple[AIOKafkaProducer, AIOKafkaConsumer]:
    """A started idempotent acks=all producer, and a started consumer of ``topic`` in a group
    of its own from the earliest offset, committing by hand."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", **producer_options
    )
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=topic,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await producer.start()
    await consumer.start()
    return producer, consumer


async def baseline(bootstrap: str, count: int) -> float:
    """Bare aiokafka: produce ``count`` records and consume them back, no database."""
    topic = f"bench-baseline-{uuid.uuid4().hex[:6]}"
    records = [encode(_payload(), source="/bench") for _ in range(count)]
    producer, consumer = await _bare_clients(bootstrap, topic)
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


def _consumer(
    bootstrap: str,
    database: Database,
    apply: Callable[[AsyncSession, UserRegistered], Awaitable[None]],
) -> tuple[EventConsumer, EventPublisher]:
    """The consuming service's consumer (a group of its own) applying ``apply``, and its
    dead-letter publisher."""
    router = EventRouter()
    router.on(UserRegistered, apply)
    dlq = EventPublisher(bootstrap, client_id="bench-dlq")
    consumer = EventConsumer(
        name=f"bench-{uuid.uuid4().hex[:6]}",
        router=router,
        database=database,
        publisher=dlq,
        bootstrap_servers=bootstrap,
    )
    return consumer, dlq


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

    publisher = EventPublisher(bootstrap, client_id="bench-relay")
    relay = OutboxRelay(producer_db, publisher, batch_size=1000)
    consumer, dlq = _consumer(bootstrap, consumer_db, apply)
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


IN_FLIGHT = 5_000  # sustained: events written but not yet applied, at most
TICK = 0.01  # the paced writer's (and the paced bare producer's) interval, seconds


def _produce(
    url: str,
    bootstrap: str,
    rate: float | None,
    seconds: float,
    applied: Any,
    written: Any,
) -> None:
    """The producing service, in its own process: writers and its outbox relay."""
    asyncio.run(_producing_service(url, bootstrap, rate, seconds, applied, written))


async def _producing_service(
    url: str, bootstrap: str, rate: float | None, seconds: float, applied: Any, written: Any
) -> None:
    database = Database(url)
    publisher = EventPublisher(bootstrap, client_id="bench-relay")
    # The relay wakes on this process's commits (Database.on_commit), as in a service.
    relay = OutboxRelay(database, publisher, batch_size=1000)
    relay_task = asyncio.create_task(relay.run())
    started = time.perf_counter()
    produced = 0
    while (now := time.perf_counter()) - started < seconds:
        if rate:
            # Paced: each tick writes, in one transaction, every event due by the clock. A
            # transaction that outlasts its tick (a loaded machine) makes the next one larger
            # instead of the rate falling to one tick's worth per transaction.
            await asyncio.sleep(TICK - (now - started) % TICK)
            due = int(rate * min(time.perf_counter() - started, seconds))
            count = due - produced
            if count <= 0:
                continue
        else:  # as fast as the consumer keeps up, with a bounded backlog
            while written.value - applied.value > IN_FLIGHT:
                await asyncio.sleep(0.005)
            count = 100
        async with database.unit_of_work() as session:
            for _ in range(count):
                add_event(session, _payload(), source="/bench")
        produced += count
        written.value += count
    relay.stop()
    await relay_task
    while (await relay.publish_pending()) > 0:  # rows of the last commit, if any were left
        pass
    await publisher.close()
    await database.dispose()


async def steady(
    bootstrap: str, urls: list[str], already: int, sustain_seconds: float, latency_seconds: float
) -> tuple[float, float, float, float, float]:
    """(events/s sustained, the slowest 10 s window's events/s, achieved writes/s in the paced
    run, p50 ms, p99 ms end to end at 1,000 events/s), with the consumer in this process."""
    consumer_db = Database(urls[1])
    committed: list[tuple[float, float]] = []  # (registered_at, committed), wall clock
    pending: list[float] = []

    async def apply(session: AsyncSession, event: UserRegistered) -> None:
        session.add(BenchEffect(user_id=event.user_id))
        pending.append(event.registered_at.timestamp())

    def after_commit() -> None:
        now = time.time()
        committed.extend((sent, now) for sent in pending)
        pending.clear()

    consumer_db.on_commit(after_commit)
    consumer, dlq = _consumer(bootstrap, consumer_db, apply)
    consumer_task = asyncio.create_task(consumer.run())
    # A new group reads the topic from the start: the throughput run's events come first.
    while consumer.stats.applied < already:
        await asyncio.sleep(0.05)
    ctx = multiprocessing.get_context("spawn")
    applied = ctx.Value("q", 0, lock=False)
    written = ctx.Value("q", 0, lock=False)

    async def phase(rate: float | None, seconds: float) -> tuple[float, float]:
        applied.value = written.value = 0
        base = consumer.stats.applied
        producer = ctx.Process(
            target=_produce, args=(urls[0], bootstrap, rate, seconds, applied, written)
        )
        started = time.time()
        producer.start()
        while producer.is_alive() or consumer.stats.applied - base < written.value:
            applied.value = consumer.stats.applied - base
            await asyncio.sleep(0.005)
        assert producer.exitcode == 0, f"producing service exited {producer.exitcode}"
        return started, time.time()

    started, _ = await phase(None, sustain_seconds)
    # The window: from the first commit to the last write (the producing service's start-up
    # and the drain after its writers stopped left out).
    window = [(s, c) for s, c in committed if s >= started]
    first, end = min(c for _, c in window), max(s for s, _ in window)
    in_window = [c for _, c in window if c <= end]
    sustained = len(in_window) / (end - first)
    slices = max(1, int((end - first) // 10))
    width = (end - first) / slices
    counts = [0] * slices
    for c in in_window:
        counts[min(slices - 1, int((c - first) // width))] += 1
    slowest = min(counts) / width

    started, finished = await phase(1000.0, latency_seconds)
    paced = [(s, c) for s, c in committed if started <= s <= finished]
    achieved = len(paced) / latency_seconds
    p50, p99 = _table.percentiles([c - s for s, c in paced])

    consumer_task.cancel()
    await asyncio.gather(consumer_task, return_exceptions=True)
    await consumer.close()
    await dlq.close()
    await consumer_db.dispose()
    return sustained, slowest, achieved, p50, p99


async def baseline_latency(bootstrap: str, rate: float, seconds: float) -> tuple[float, float]:
    """Bare aiokafka at ``rate`` records/s (10 ms ticks): p50, p99 ms from send to consumed."""
    topic = f"bench-latency-{uuid.uuid4().hex[:6]}"
    # linger_ms as EventPublisher's: the relay's producer waits as long for a batch.
    producer, consumer = await _bare_clients(bootstrap, topic, linger_ms=2)
    # The topic exists and the group has its partition before the clock starts.
    await producer.send_and_wait(topic, b"warm-up")
    while not await consumer.getmany(timeout_ms=500):
        pass
    per_tick = round(rate * TICK)
    total = per_tick * int(seconds / TICK)
    latencies: list[float] = []

    async def consume() -> None:
        while len(latencies) < total:
            batch = await consumer.getmany(timeout_ms=100, max_records=500)
            now = time.time()
            for partition, items in batch.items():
                latencies.extend(now - float(item.value) for item in items)
                await consumer.commit({partition: items[-1].offset + 1})

    consuming = asyncio.create_task(consume())
    started = time.perf_counter()
    for tick in range(int(seconds / TICK)):
        await asyncio.sleep(max(0.0, started + tick * TICK - time.perf_counter()))
        for _ in range(per_tick):
            await producer.send(topic, str(time.time()).encode())
    await consuming
    await producer.stop()
    await consumer.stop()
    return _table.percentiles(latencies)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--sustain-seconds", type=float, default=120.0)
    parser.add_argument("--latency-seconds", type=float, default=60.0)
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does it still run")
    args = parser.parse_args()
    if args.quick:
        args.events, args.sustain_seconds, args.latency_seconds = 300, 4.0, 3.0
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
        sustained, slowest, achieved, p50, p99 = await steady(
            bootstrap, urls, args.events, args.sustain_seconds, args.latency_seconds
        )
        bare_p50, bare_p99 = await baseline_latency(
            bootstrap, 1000.0, max(3.0, args.latency_seconds / 3)
        )
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
            ),
            _table.Figure(
                bench="event_pipeline",
                name=f"same, sustained {args.sustain_seconds:.0f} s, ≤ {IN_FLIGHT:,} in flight "
                f"(slowest 10 s: {slowest:,.0f}/s)",
                value=sustained,
                unit="events/s",
                samples=round(sustained * args.sustain_seconds),
                target="≥ 5,000/s",
                baseline=bare,
                baseline_name=f"bare aiokafka, {args.events:,} events",
            ),
            _table.Figure(
                bench="event_pipeline",
                name=f"same, end-to-end p99 at 1,000 events/s for {args.latency_seconds:.0f} s "
                f"(p50 {p50:.1f} ms; bare p50 {bare_p50:.1f} ms; {achieved:,.0f}/s written)",
                value=p99,
                unit="ms",
                samples=round(achieved * args.latency_seconds),
                target="≤ 250 ms",
                baseline=bare_p99,
                baseline_name="bare aiokafka at 1,000/s",
                higher_is_better=False,
            ),
        ]
    )
    print(f"events: {args.events}, database: {database}")
    print(f"baseline  bare aiokafka produce+consume : {bare:9,.0f} events/s")
    print(f"rapport   outbox → Kafka → inbox+effect : {ours:9,.0f} events/s")
    print(f"ratio     rapport / baseline            : {ours / bare:9.2f}")
    print("target    ≥ 5,000 events/s (DESIGN.md)")
    print(
        f"sustained {args.sustain_seconds:.0f} s, ≤ {IN_FLIGHT:,} in flight : "
        f"{sustained:9,.0f} events/s (slowest 10 s: {slowest:,.0f}/s)"
    )
    print(
        f"latency   at 1,000 events/s ({achieved:,.0f}/s written), {args.latency_seconds:.0f} s: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (bare aiokafka p50 {bare_p50:.1f} ms, "
        f"p99 {bare_p99:.1f} ms); target p99 ≤ 250 ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
