"""Which signaling process owns which live room, as the owners publish it (docs/signaling.md).

A room's session id maps to a partition of ``rapport.signaling.rooms`` by Kafka's default
partitioner (murmur2 of the key); the signaling process that the consumer group on that topic
assigns the partition to owns the room. Each owner publishes a :class:`OwnerClaim` per
partition it holds to the compacted ``rapport.signaling.owners`` topic, stamped with the
group generation that gave it the partition. :class:`OwnerDirectory` follows that topic
(without a group: every reader sees every claim) and answers "where is this session's room?";
the gateway routes by it and a draining process waits on it for its successors.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import murmur2
from pydantic import BaseModel, ValidationError

log = logging.getLogger(__name__)

ROOMS_TOPIC = "rapport.signaling.rooms"
OWNERS_TOPIC = "rapport.signaling.owners"


def partition_of(session_id: uuid.UUID | str, partitions: int) -> int:
    """The rooms-topic partition of ``session_id``: what Kafka's default partitioner picks
    for the key ``str(session_id)``, so a producer that lets Kafka choose agrees."""
    key = str(session_id).lower().encode()
    return (murmur2(key) & 0x7FFFFFFF) % partitions


async def ensure_topic(
    bootstrap_servers: str, topic: str, *, partitions: int, replication_factor: int = 1
) -> int:
    """Create the compacted ``topic`` unless it exists; return its partition count."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="rapport-admin")
    await admin.start()
    try:
        compacted = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"}
        try:
            await admin.create_topics(
                [NewTopic(topic, partitions, replication_factor, topic_configs=compacted)]
            )
        except TopicAlreadyExistsError:
            pass
        described = await admin.describe_topics([topic])
        # Right after creation the description may not list the partitions yet.
        return (len(described[0].get("partitions") or ()) if described else 0) or partitions
    finally:
        await admin.close()


class OwnerClaim(BaseModel):
    """One partition's owner, as of one group generation."""

    partition: int
    # How many partitions the rooms topic has (so a reader maps session ids the same way).
    partitions: int
    url: str
    generation: int
    member: str
    # False while the owner drains: route nothing new to it, its successor is on the way.
    ready: bool = True

    def key(self) -> bytes:
        return str(self.partition).encode()


class OwnerDirectory:
    """Follows the owner claims; ``owner_of`` a session, and waits for claims to change."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        client_id: str,
        topic: str = OWNERS_TOPIC,
        retry_seconds: float = 1.0,
    ):
        self._bootstrap = bootstrap_servers
        self.topic = topic
        self._client_id = client_id
        self._retry = retry_seconds
        self._claims: dict[int, OwnerClaim] = {}
        self._partitions = 0
        self._changed = asyncio.Event()
        self._caught_up = asyncio.Event()
        self._stopping = asyncio.Event()

    @property
    def caught_up(self) -> bool:
        """Whether every claim published before this reader started has been read."""
        return self._caught_up.is_set()

    def claims(self) -> list[OwnerClaim]:
        return list(self._claims.values())

    def owner_of(self, session_id: uuid.UUID | str) -> str | None:
        """The URL of the ready process owning ``session_id``'s room; None if unknown."""
        if not self._partitions:
            return None
        claim = self._claims.get(partition_of(session_id, self._partitions))
        return claim.url if claim is not None and claim.ready else None

    def owners_of(self, partitions: Iterable[int]) -> dict[int, OwnerClaim]:
        return {p: c for p in partitions if (c := self._claims.get(p)) is not None}

    def apply(self, claim: OwnerClaim) -> None:
        """Take ``claim``, the latest written, unless it is a stale owner's late write: an
        older generation's withdrawal (a drain) or, from the same member, an older claim.

        A ready claim from another member wins even with a lower generation: the group's
        generation starts again at 1 when the group is recreated (every process was down
        long enough for the coordinator to forget it), and a member publishes claims only
        right after it was assigned them."""
        current = self._claims.get(claim.partition)
        if (
            current is not None
            and current.generation > claim.generation
            and (current.member == claim.member or not claim.ready)
        ):
            return
        self._claims[claim.partition] = claim
        self._partitions = claim.partitions
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def changed(self, timeout: float) -> bool:  # noqa: ASYNC109 - a bounded wait by design
        """Wait for the next claim (any partition); False if none came within ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            return False
        return True

    async def wait_caught_up(self) -> None:
        await self._caught_up.wait()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Follow the owners topic from its start until stopped, reconnecting after errors.

        An outage is logged once, when it starts, not on every attempt (every second for as
        long as Kafka is away); the last claims known keep routing meanwhile.
        """
        waiting = False
        while not self._stopping.is_set():
            try:
                # Created here as it must be (compacted, one partition) before anything
                # reads it: a reader's subscription would have the broker auto-create it
                # with the defaults.
                await ensure_topic(self._bootstrap, self.topic, partitions=1)
            except (KafkaError, OSError) as exc:
                if waiting:
                    log.debug("owner directory still waiting for Kafka: %s", type(exc).__name__)
                else:
                    log.warning("owner directory waiting for Kafka: %s", type(exc).__name__)
                waiting = True
                try:
                    await asyncio.wait_for(self._stopping.wait(), timeout=self._retry)
                except TimeoutError:
                    pass
                continue
            consumer = AIOKafkaConsumer(
                self.topic,
                bootstrap_servers=self._bootstrap,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                metadata_max_age_ms=1000,
                client_id=self._client_id,
            )
            try:
                await consumer.start()
                if waiting:
                    log.info("owner directory connected to Kafka again")
                    waiting = False
                await self._follow(consumer)
            except (KafkaError, OSError) as exc:
                log.warning("owner directory reconnecting: %s", type(exc).__name__)
            finally:
                await consumer.stop()
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self._retry)
            except TimeoutError:
                pass

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        ends: dict[object, int] | None = None
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    if record.value is None:
                        continue
                    try:
                        self.apply(OwnerClaim.model_validate_json(record.value))
                    except ValidationError:
                        log.warning("unreadable owner claim at offset %s", record.offset)
            if self._caught_up.is_set():
                continue
            assigned = consumer.assignment()
            if not assigned:
                continue
            if ends is None:
                ends = dict(await consumer.end_offsets(list(assigned)))
            positions = [await consumer.position(tp) for tp in ends]
            if all(p >= end for p, end in zip(positions, ends.values(), strict=True)):
                self._caught_up.set()
