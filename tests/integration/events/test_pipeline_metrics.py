"""The event pipeline's metrics on a real Kafka broker and a real PostgreSQL: the outbox's
backlog and the age of its oldest event, consumer lag per partition, dead letters by reason."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import Database
from shared.events.catalog import TOPIC_IDENTITY, UserRegistered
from shared.events.envelope import encode
from shared.events.inbox import ProcessedEvent
from shared.events.kafka import EventConsumer, EventPublisher, EventRouter
from shared.events.outbox import OutboxMessage, OutboxRelay, add_event
from shared.events.telemetry import instrument_consumer, instrument_outbox
from shared.observability import Metrics

pytestmark = pytest.mark.integration


def samples(metrics: Metrics, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of metric family ``name``, by their sorted labels."""
    found = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def _registered(user_id: uuid.UUID) -> UserRegistered:
    return UserRegistered(user_id=user_id, role="client", registered_at=datetime.now(UTC))


@pytest.fixture
async def database(postgres_server) -> AsyncIterator[Database]:  # type: ignore[no-untyped-def]
    name = f"metrics_{uuid.uuid4().hex[:8]}"
    await asyncio.to_thread(postgres_server.create_database, name)
    database = Database(postgres_server.async_url(name))
    async with database.engine.begin() as connection:
        await connection.run_sync(
            SQLModel.metadata.create_all,
            tables=[OutboxMessage.__table__, ProcessedEvent.__table__],  # type: ignore[attr-defined]
        )
    yield database
    await database.dispose()
    await asyncio.to_thread(postgres_server.drop_database, name)


async def test_outbox_backlog_and_oldest_age_follow_the_relay(database, kafka_bootstrap):
    metrics = Metrics("test")
    instrument_outbox(metrics, database=database)
    async with database.unit_of_work() as session:
        rows = [add_event(session, _registered(uuid.uuid4()), source="/test") for _ in range(3)]
        rows[0].created_at = datetime.now(UTC) - timedelta(minutes=10)

    await metrics.refresh()
    assert samples(metrics, "rapport_outbox_pending") == {(("service", "test"),): 3.0}
    age = samples(metrics, "rapport_outbox_oldest_pending_age_seconds")[(("service", "test"),)]
    assert age >= 600

    publisher = EventPublisher(kafka_bootstrap, client_id="test-outbox-metrics")
    try:
        while await OutboxRelay(database, publisher).publish_pending():
            pass
    finally:
        await publisher.close()
    await metrics.refresh()
    assert samples(metrics, "rapport_outbox_pending") == {(("service", "test"),): 0.0}
    assert samples(metrics, "rapport_outbox_oldest_pending_age_seconds") == {
        (("service", "test"),): 0.0
    }


async def test_consumer_lag_per_partition_and_dead_letters_by_reason(database, kafka_bootstrap):
    blocker, behind = uuid.uuid4(), [uuid.uuid4() for _ in range(3)]
    holding, release = asyncio.Event(), asyncio.Event()

    async def apply(session: AsyncSession, event: UserRegistered) -> None:
        if event.user_id == blocker:
            holding.set()
            await release.wait()

    router = EventRouter()
    router.on(UserRegistered, apply)
    # One key: the blocking event and the three behind it share a partition, in order.
    key = f"lag-{uuid.uuid4().hex}".encode()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for user_id in [blocker, *behind]:
            record = encode(_registered(user_id), source="/test")
            metadata = await producer.send_and_wait(
                TOPIC_IDENTITY, record.value, key=key, headers=record.headers
            )
        await producer.send_and_wait(TOPIC_IDENTITY, b"{not json", key=key, headers=record.headers)
    finally:
        await producer.stop()
    partition = str(metadata.partition)

    publisher = EventPublisher(kafka_bootstrap, client_id="test-lag")
    consumer = EventConsumer(
        name=f"test-lag-{uuid.uuid4().hex[:6]}",
        router=router,
        database=database,
        publisher=publisher,
        bootstrap_servers=kafka_bootstrap,
        batch_size=1,
    )
    metrics = Metrics("test")
    instrument_consumer(metrics, consumer=consumer)
    task = asyncio.create_task(consumer.run())

    def lag_of_partition() -> float:
        labels = (("consumer", consumer.name), ("partition", partition), ("topic", TOPIC_IDENTITY))
        return samples(metrics, "rapport_consumer_lag").get(labels, -1.0)

    try:
        await asyncio.wait_for(holding.wait(), 60)
        await metrics.refresh()
        # Held on the blocking event: the three behind it and the malformed one wait.
        assert lag_of_partition() >= 4
        release.set()
        deadline = asyncio.get_running_loop().time() + 60
        while True:
            await metrics.refresh()
            dead = samples(metrics, "rapport_dead_letters_total")
            if lag_of_partition() == 0 and dead:
                break
            assert asyncio.get_running_loop().time() < deadline, (lag_of_partition(), dead)
            await asyncio.sleep(0.2)
    finally:
        release.set()
        consumer.stop()
        await asyncio.wait_for(task, 30)
        await consumer.close()
        await publisher.close()
    # Ours at least (the topic may hold other tests' malformed records from before).
    assert dead[(("consumer", consumer.name), ("reason", "MalformedEvent"))] >= 1
