"""Outbox, inbox and dead letters on a real Kafka broker and a real PostgreSQL.

A tiny producer "service" writes state and outbox rows in one transaction; a tiny consumer
"service" applies the events to its own database through the real EventConsumer.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import func
from sqlmodel import Field, SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from devservers.kafka.launcher import KafkaCluster
from shared.db import Database
from shared.events.catalog import TOPIC_IDENTITY, UserRegistered, dead_letter_topic
from shared.events.envelope import encode
from shared.events.inbox import ProcessedEvent
from shared.events.kafka import EventConsumer, EventPublisher, EventRouter
from shared.events.outbox import OutboxMessage, OutboxRelay, add_event

pytestmark = pytest.mark.integration


class Registration(SQLModel, table=True):
    """Producer-side state: a registered user."""

    __tablename__ = "test_registration"
    id: uuid.UUID = Field(primary_key=True)


class AppliedRegistration(SQLModel, table=True):
    """Consumer-side effect: one row per applied event. A duplicate would violate nothing,
    so double application shows up as a count above one."""

    __tablename__ = "test_applied_registration"
    row: int | None = Field(default=None, primary_key=True)
    user_id: uuid.UUID


async def _database(url: str, *tables: type[SQLModel]) -> Database:
    database = Database(url)
    async with database.engine.begin() as connection:
        await connection.run_sync(
            SQLModel.metadata.create_all,
            tables=[t.__table__ for t in tables],  # type: ignore[attr-defined]
        )
    return database


def _registered(user_id: uuid.UUID) -> UserRegistered:
    return UserRegistered(user_id=user_id, role="client", registered_at=datetime.now(UTC))


def _router(poison_ids: set[uuid.UUID] | None = None) -> EventRouter:
    async def apply(session: AsyncSession, event: UserRegistered) -> None:
        if poison_ids and event.user_id in poison_ids:
            raise ValueError("this event can never be applied")
        session.add(AppliedRegistration(user_id=event.user_id))

    router = EventRouter()
    router.on(UserRegistered, apply)
    return router


async def _applied_counts(database: Database) -> dict[uuid.UUID, int]:
    async with database.unit_of_work() as session:
        rows = await session.exec(
            select(AppliedRegistration.user_id, func.count()).group_by(AppliedRegistration.user_id)
        )
        return {user_id: count for user_id, count in rows.all()}


async def _until(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.1)


@pytest.fixture
async def databases(postgres_server) -> AsyncIterator[tuple[Database, Database]]:  # type: ignore[no-untyped-def]
    names = [f"producer_{uuid.uuid4().hex[:8]}", f"consumer_{uuid.uuid4().hex[:8]}"]
    for name in names:
        await asyncio.to_thread(postgres_server.create_database, name)
    producer_db = await _database(postgres_server.async_url(names[0]), Registration, OutboxMessage)
    consumer_db = await _database(
        postgres_server.async_url(names[1]), AppliedRegistration, ProcessedEvent
    )
    yield producer_db, consumer_db
    await producer_db.dispose()
    await consumer_db.dispose()
    for name in names:
        await asyncio.to_thread(postgres_server.drop_database, name)


async def test_events_outboxed_while_the_broker_is_down_arrive_exactly_once(databases):
    producer_db, consumer_db = databases
    with KafkaCluster(nodes=1) as cluster:
        publisher = EventPublisher(cluster.bootstrap_servers, client_id="test-producer")
        relay = OutboxRelay(producer_db, publisher, batch_size=50, max_backoff_seconds=1.0)
        dlq_publisher = EventPublisher(cluster.bootstrap_servers, client_id="test-dlq")
        consumer = EventConsumer(
            name=f"test-{uuid.uuid4().hex[:6]}",
            router=_router(),
            database=consumer_db,
            publisher=dlq_publisher,
            bootstrap_servers=cluster.bootstrap_servers,
        )
        tasks = [asyncio.create_task(relay.run()), asyncio.create_task(consumer.run())]
        try:
            before = [uuid.uuid4() for _ in range(20)]
            async with producer_db.unit_of_work() as session:
                for user_id in before:
                    session.add(Registration(id=user_id))
                    add_event(session, _registered(user_id), source="/test")
            await _until(lambda: _has_all(consumer_db, before))

            await asyncio.to_thread(cluster.stop_node, 0)
            during = [uuid.uuid4() for _ in range(200)]
            for chunk in range(0, len(during), 50):  # several transactions, not one
                async with producer_db.unit_of_work() as session:
                    for user_id in during[chunk : chunk + 50]:
                        session.add(Registration(id=user_id))
                        add_event(session, _registered(user_id), source="/test")
            await asyncio.sleep(1.5)  # let the relay fail against the dead broker
            assert await _pending(producer_db) == len(during), "the outbox must hold them"

            await asyncio.to_thread(cluster.start_node, 0)
            await _until(lambda: _has_all(consumer_db, before + during), timeout=120)
            await _until(lambda: _pending_is_zero(producer_db))
            counts = await _applied_counts(consumer_db)
            assert set(counts) == set(before + during)
            assert set(counts.values()) == {1}, "an event was applied twice"
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await consumer.close()
            await publisher.close()
            await dlq_publisher.close()


async def _pending(database: Database) -> int:
    async with database.unit_of_work() as session:
        result = await session.exec(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at == None)  # noqa: E711
        )
        return int(result.one())


async def _pending_is_zero(database: Database) -> bool:
    return await _pending(database) == 0


async def _has_all(database: Database, user_ids: list[uuid.UUID]) -> bool:
    return set(user_ids) <= set(await _applied_counts(database))


async def test_redelivered_event_is_applied_once(databases, kafka_bootstrap):
    _, consumer_db = databases
    topic_event = _registered(uuid.uuid4())
    record = encode(topic_event, source="/test")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        # The same CloudEvent (same id) twice: what a relay crash between send and mark-sent,
        # or a consumer crash before its offset commit, looks like downstream.
        for _ in range(2):
            await producer.send_and_wait(
                TOPIC_IDENTITY, record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()

    publisher = EventPublisher(kafka_bootstrap, client_id="test-dlq")
    consumer = EventConsumer(
        name=f"test-{uuid.uuid4().hex[:6]}",
        router=_router(),
        database=consumer_db,
        publisher=publisher,
        bootstrap_servers=kafka_bootstrap,
    )
    task = asyncio.create_task(consumer.run())
    try:
        await _until(lambda: _has_all(consumer_db, [topic_event.user_id]))
        await _until(_seen_duplicate(consumer))
        assert (await _applied_counts(consumer_db))[topic_event.user_id] == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.close()
        await publisher.close()


def _seen_duplicate(consumer: EventConsumer):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return consumer.stats.duplicates >= 1

    return check


async def test_poison_events_go_to_the_dead_letter_topic_and_the_consumer_moves_on(
    databases, kafka_bootstrap
):
    _, consumer_db = databases
    poison_user = uuid.uuid4()
    good_user = uuid.uuid4()
    failing = encode(_registered(poison_user), source="/test")
    good = encode(_registered(good_user), source="/test")
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    marker = uuid.uuid4().hex.encode()
    try:
        # All on one key, so they share a partition and the good one comes last.
        key = b"poison-test-" + marker
        await producer.send_and_wait(TOPIC_IDENTITY, b"{not json", key=key, headers=failing.headers)
        await producer.send_and_wait(
            TOPIC_IDENTITY, failing.value, key=key, headers=failing.headers
        )
        await producer.send_and_wait(TOPIC_IDENTITY, good.value, key=key, headers=good.headers)
    finally:
        await producer.stop()

    publisher = EventPublisher(kafka_bootstrap, client_id="test-dlq")
    consumer = EventConsumer(
        name=f"test-{uuid.uuid4().hex[:6]}",
        router=_router(poison_ids={poison_user}),
        database=consumer_db,
        publisher=publisher,
        bootstrap_servers=kafka_bootstrap,
        max_attempts=3,
        retry_backoff_seconds=0.05,
    )
    task = asyncio.create_task(consumer.run())

    async def good_applied_and_both_dead_lettered() -> bool:
        # The batch dead-letters its malformed records after applying the rest, so the good
        # event can be in before the malformed one is out: wait for both.
        return consumer.stats.dead_lettered >= 2 and await _has_all(consumer_db, [good_user])

    try:
        await _until(good_applied_and_both_dead_lettered)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await consumer.close()
        await publisher.close()
    assert poison_user not in await _applied_counts(consumer_db)
    assert consumer.stats.dead_letter_reasons == Counter({"ValueError": 1, "MalformedEvent": 1})

    dead = AIOKafkaConsumer(
        dead_letter_topic(TOPIC_IDENTITY),
        bootstrap_servers=kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await dead.start()
    try:
        # Only this consumer's dead letters: other consumers of rapport.identity (a running
        # records service, say) dead-letter the malformed record too, as they should.
        found: dict[tuple[int, int], Any] = {}
        deadline = asyncio.get_running_loop().time() + 30
        drain_until = None
        while asyncio.get_running_loop().time() < deadline:
            batch = await dead.getmany(timeout_ms=500)
            for records in batch.values():
                for r in records:
                    mine = dict(r.headers).get("rapport_dlq_consumer") == consumer.name.encode()
                    if r.key == b"poison-test-" + marker and mine:
                        found[(r.partition, r.offset)] = r
            if len(found) >= 2 and drain_until is None:
                drain_until = asyncio.get_running_loop().time() + 1.0  # anything extra?
            if drain_until is not None and asyncio.get_running_loop().time() > drain_until:
                break
    finally:
        await dead.stop()
    reasons = sorted(dict(r.headers)["rapport_dlq_reason"].decode() for r in found.values())
    assert len(found) == 2
    assert reasons[0].startswith("ValueError")
    assert reasons[1].startswith("malformed")
    assert all(
        dict(r.headers)["rapport_dlq_topic"] == TOPIC_IDENTITY.encode() for r in found.values()
    )
