"""aiokafka <-> Apache Kafka 4.4 compatibility gate.

aiokafka's own CI does not run against Kafka 4.x, so this proves the paths the services rely
on: topic creation, an idempotent acks=all producer, a consumer group with manual commits,
and a second group member resuming exactly after the committed offsets.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.support.waiting import until

pytestmark = pytest.mark.integration

PARTITIONS = 3


async def consume(
    consumer: AIOKafkaConsumer, count: int, wait_s: float = 30.0
) -> list[ConsumerRecord]:
    """Read until ``count`` records arrived (failing after ``wait_s`` seconds)."""
    records: list[ConsumerRecord] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while len(records) < count:
        assert loop.time() < deadline, f"only {len(records)} of {count} records arrived"
        batch = await consumer.getmany(timeout_ms=500)
        for part in batch.values():
            records.extend(part)
    return records


async def produce(producer: AIOKafkaProducer, topic: str, values: list[bytes]) -> None:
    """Send every value (key = value, so they spread over partitions) and await all acks."""
    futures = [
        await producer.send(topic, value, key=value, headers=[("source", b"smoke")])
        for value in values
    ]
    await asyncio.gather(*futures)


def new_consumer(bootstrap: str, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        # "earliest" makes the resume check meaningful: without a committed offset the
        # second consumer would re-read everything from the start.
        auto_offset_reset="earliest",
    )


async def test_idempotent_produce_group_commit_and_resume(kafka_bootstrap: str) -> None:
    topic = f"smoke-{uuid.uuid4().hex[:12]}"
    group = f"smoke-group-{uuid.uuid4().hex[:12]}"

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)]
        )

        # KRaft creates a topic asynchronously: the controller answers before every broker's
        # metadata has the partitions, so a describe right after can still see none.
        async def all_partitions_described() -> bool:
            described = await admin.describe_topics([topic])
            return len(described[0]["partitions"]) == PARTITIONS

        await until(all_partitions_described, f"{topic} shows its {PARTITIONS} partitions")
    finally:
        await admin.close()

    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        first = [f"first-{i}".encode() for i in range(30)]
        await produce(producer, topic, first)
        # The broker granted a producer id: InitProducerId works, so idempotence is real.
        assert producer._txn_manager is not None
        assert producer._txn_manager.producer_id >= 0

        consumer = new_consumer(kafka_bootstrap, topic, group)
        await consumer.start()
        try:
            records = await consume(consumer, len(first))
            assert sorted(r.value for r in records) == sorted(first)
            assert all(r.key == r.value for r in records)
            assert all(list(r.headers) == [("source", b"smoke")] for r in records)
            await consumer.commit()
            committed = {
                p: await consumer.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)
            }
            assert sum(c or 0 for c in committed.values()) == len(first)
        finally:
            await consumer.stop()

        second = [f"second-{i}".encode() for i in range(10)]
        await produce(producer, topic, second)
    finally:
        await producer.stop()

    # Same group, new member: must start at the committed offsets, not from the beginning.
    resumed = new_consumer(kafka_bootstrap, topic, group)
    await resumed.start()
    try:
        records = await consume(resumed, len(second))
        extra = await resumed.getmany(timeout_ms=1000)
        records.extend(r for part in extra.values() for r in part)
        assert sorted(r.value for r in records) == sorted(second), "re-read or lost records"
        for p in range(PARTITIONS):
            tp = TopicPartition(topic, p)
            assert await resumed.position(tp) == committed[tp.partition] + sum(
                1 for r in records if r.partition == p
            )
    finally:
        await resumed.stop()


@pytest.mark.integration
def test_a_cluster_id_starting_with_a_dash_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    # base64url ids start with "-" about once in 64; the storage tool must not take it for
    # an option (this once failed a whole test run).
    from devservers.kafka import launcher

    original = launcher.new_cluster_id
    monkeypatch.setattr(launcher, "new_cluster_id", lambda: "-" + original()[1:])
    with launcher.KafkaCluster(nodes=1) as cluster:
        assert cluster.cluster_id is not None and cluster.cluster_id.startswith("-")
