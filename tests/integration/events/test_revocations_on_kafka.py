"""Every process following revocations (the gateway, each signaling process) hears every one:
followers without a consumer group, on a real Kafka topic."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaProducer

from shared.events.catalog import Payload, TokensRevoked, UserDeactivated
from shared.events.envelope import encode
from shared.events.revocations import Revocation, RevocationFollower

pytestmark = pytest.mark.integration


async def _publish(bootstrap: str, *payloads: Payload) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for payload in payloads:
            record = encode(payload, source="/rapport/identity")
            await producer.send_and_wait(
                record.topic, record.value, key=record.key, headers=record.headers
            )
    finally:
        await producer.stop()


async def test_two_processes_both_hear_a_deactivation_and_a_logout(
    kafka_bootstrap: str,
) -> None:
    deactivated, logged_out, family = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    heard: list[list[Revocation]] = [[], []]
    followers = []
    for log in heard:

        async def revoke(revocation: Revocation, log: list[Revocation] = log) -> None:
            log.append(revocation)

        followers.append(
            RevocationFollower(
                revoke,
                client_id="test-revocations",
                bootstrap_servers=kafka_bootstrap,
                lookback_seconds=60,
            )
        )
    tasks = [asyncio.create_task(f.run()) for f in followers]
    mine = (deactivated, logged_out)
    try:
        await _publish(
            kafka_bootstrap,
            TokensRevoked(
                user_id=logged_out, family_id=family, reason="logout", revoked_before=now
            ),
            UserDeactivated(user_id=deactivated, deactivated_at=now),
        )
        async with asyncio.timeout(30):
            while not all(len([r for r in log if r.user_id in mine]) == 2 for log in heard):
                await asyncio.sleep(0.1)
        for log in heard:
            # Different keys, so possibly different partitions: no order between the two.
            assert sorted((r for r in log if r.user_id in mine), key=lambda r: str(r.user_id)) == (
                sorted(
                    [Revocation(deactivated, now), Revocation(logged_out, now, family_id=family)],
                    key=lambda r: str(r.user_id),
                )
            )
    finally:
        for follower in followers:
            follower.stop()
        await asyncio.gather(*tasks)
