"""A 3-node KRaft cluster keeps producing (acks=all) and consuming while a node is down."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from devservers.kafka.launcher import KafkaCluster

pytestmark = pytest.mark.integration

PARTITIONS = 3


async def consume_exactly(
    bootstrap: str, topic: str, group: str, count: int, wait_s: float = 60.0
) -> list[ConsumerRecord]:
    """Read ``count`` records in ``group``, check nothing more follows, commit, leave."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        records: list[ConsumerRecord] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while len(records) < count:
            assert loop.time() < deadline, f"only {len(records)} of {count} records arrived"
            for part in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(part)
        for part in (await consumer.getmany(timeout_ms=500)).values():
            records.extend(part)
        await consumer.commit()
        return records
    finally:
        await consumer.stop()


async def test_three_nodes_survive_a_killed_node() -> None:
    cluster = KafkaCluster(
        nodes=3,
        # Default 9 s: a killed broker stays "alive" (and its partitions leaderless) that
        # long, and its restart is refused as a duplicate registration until then.
        extra_config={"broker.session.timeout.ms": "3000", "broker.heartbeat.interval.ms": "500"},
    )
    cluster.start(wait=False)
    try:
        await cluster.wait_ready_async()
        bootstrap = cluster.bootstrap_servers
        topic = f"ha-{uuid.uuid4().hex[:12]}"
        group = f"ha-group-{uuid.uuid4().hex[:12]}"

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            # min.insync.replicas=2 comes from the cluster default.
            await admin.create_topics(
                [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=3)]
            )

            producer = AIOKafkaProducer(
                bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
            )
            await producer.start()
            try:
                before = [f"before-{i}".encode() for i in range(30)]
                await asyncio.gather(*[await producer.send(topic, v, key=v) for v in before])
                # Also creates __consumer_offsets while all 3 brokers can host its replicas.
                got = await consume_exactly(bootstrap, topic, group, len(before))
                assert sorted(r.value for r in got) == sorted(before)

                # Kill the leader of partition 0, so leadership really has to move.
                leader = producer.client.cluster.leader_for_partition(TopicPartition(topic, 0))
                assert leader in cluster.node_ids
                victim = cluster.node_ids.index(leader)
                cluster.kill_node(victim)

                during = [f"during-{i}".encode() for i in range(30)]
                await asyncio.wait_for(
                    asyncio.gather(*[await producer.send(topic, v, key=v) for v in during]),
                    timeout=60,
                )
                got = await consume_exactly(bootstrap, topic, group, len(during))
                assert sorted(r.value for r in got) == sorted(during)

                cluster.start_node(victim, wait=False)
                await cluster.wait_ready_async()

                after = [f"after-{i}".encode() for i in range(10)]
                await asyncio.gather(*[await producer.send(topic, v, key=v) for v in after])
                got = await consume_exactly(bootstrap, topic, group, len(after))
                assert sorted(r.value for r in got) == sorted(after)
            finally:
                await producer.stop()

            # The restarted node catches up and rejoins every partition's ISR.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while True:
                (info,) = await admin.describe_topics([topic])
                isr_sizes = [len(p["isr"]) for p in info["partitions"]]
                if isr_sizes == [3] * PARTITIONS:
                    break
                assert loop.time() < deadline, f"ISR sizes still {isr_sizes}"
                await asyncio.sleep(0.5)
        finally:
            await admin.close()
    finally:
        cluster.stop()
