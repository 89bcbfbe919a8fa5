"""Which rooms this process owns, decided by Kafka's consumer-group protocol (docs/signaling.md).

Every signaling process joins one consumer group on ``rapport.signaling.rooms``. A room's
session id maps to a partition of that topic (Kafka's default partitioner), and the process
the group assigns the partition to owns the room. The group's coordinator notices a dead
process when its session times out (``session_timeout_ms``) and a leaving one at once, and
hands its partitions to the others; the sticky assignor moves only the partitions a process
gains or loses.

The same topic, compacted and keyed by session id, holds each room's state: the owner writes
it after every change (:meth:`RoomOwnership.save`), and a process that is assigned a partition
reads it from the start before it serves any of its rooms. Each write carries the group
generation of its writer: a record in a partition this process owns, written by another
member of an older generation, is a stale owner's late write and is overwritten.

For the gateway, each owner publishes an :class:`~shared.room_owners.OwnerClaim` per partition
to ``rapport.signaling.owners`` (compacted, keyed by partition).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
from aiokafka.errors import ConsumerStoppedError, KafkaError
from pydantic import BaseModel, ValidationError

from services.signaling.room import RoomState
from shared.room_owners import (
    ROOMS_TOPIC,
    OwnerClaim,
    OwnerDirectory,
    ensure_topic,
    partition_of,
)

log = logging.getLogger(__name__)

GROUP_ID = "rapport-signaling-rooms"


class SavedRoom(BaseModel):
    """A record of the rooms topic: a room's state and who wrote it, in which generation."""

    member: str
    generation: int
    room: RoomState


Gained = Callable[[list[RoomState]], Awaitable[None]]
Lost = Callable[[set[int]], Awaitable[None]]
Current = Callable[[uuid.UUID], RoomState | None]
Handed = Callable[[set[int]], Awaitable[None]]


class RoomOwnership:
    """This process's share of the rooms: joins the group, loads gained rooms, saves changes."""

    def __init__(
        self,
        *,
        bootstrap_servers: str,
        advertised_url: str,
        partitions: int,
        replication_factor: int,
        session_timeout_ms: int,
        heartbeat_interval_ms: int,
        directory: OwnerDirectory,
        rooms_topic: str = ROOMS_TOPIC,
        group_id: str = GROUP_ID,
        retry_seconds: float = 1.0,
    ) -> None:
        self.rooms_topic = rooms_topic
        self._bootstrap = bootstrap_servers
        self.url = advertised_url
        self.partitions = partitions
        self._replication = replication_factor
        self._session_timeout_ms = session_timeout_ms
        self._heartbeat_ms = heartbeat_interval_ms
        self._group_id = group_id
        self._retry = retry_seconds
        self.directory = directory
        self._on_gained: Gained | None = None
        self._on_lost: Lost | None = None
        self._current: Current | None = None
        self._owned: set[int] = set()
        self.generation = -1
        self.member = ""
        # Cleared while the group rebalances: changes to rooms wait until it settles.
        self._settled = asyncio.Event()
        self._assigned_once = False
        self.draining = False
        self._stopping = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._reader: AIOKafkaConsumer | None = None
        self._polling: asyncio.Task[None] | None = None
        # Set once a drain no longer needs the Kafka clients.
        self._handed_over = asyncio.Event()
        # How many assignments and rooms loaded, for operators (/metrics) and tests.
        self.rebalances = 0
        self.rooms_loaded = 0

    def bind(self, *, on_gained: Gained, on_lost: Lost, current: Current) -> None:
        """What to do with rooms gained and partitions lost, and how to read a room now."""
        self._on_gained, self._on_lost, self._current = on_gained, on_lost, current

    # ---- questions ---------------------------------------------------------------------

    def partition(self, session_id: uuid.UUID) -> int:
        return partition_of(session_id, self.partitions)

    def owns(self, session_id: uuid.UUID) -> bool:
        """Whether this process owns the room now (False while it rebalances or drains)."""
        return (
            self._settled.is_set()
            and not self.draining
            and self.partition(session_id) in self._owned
        )

    async def holds(self, session_id: uuid.UUID, *, within: float = 15.0) -> bool:
        """Whether this process owns the room, once a rebalance under way has settled."""
        if not self._settled.is_set() and not self.draining:
            try:
                async with asyncio.timeout(within):
                    await self._settled.wait()
            except TimeoutError:
                return False
        return self.owns(session_id)

    @property
    def owned(self) -> frozenset[int]:
        return frozenset(self._owned)

    async def check(self) -> None:
        """Readiness: this process holds its share (it was assigned, and does not drain)."""
        if self.draining:
            raise RuntimeError("draining")
        if not self._assigned_once or not self._settled.is_set():
            raise RuntimeError("not assigned its rooms yet")

    # ---- writing ----------------------------------------------------------------------

    async def save(self, session_id: uuid.UUID, state: RoomState | None) -> None:
        """Write the room's state (None: the room is gone) where the next owner reads it."""
        producer = self._producer
        if producer is None:
            raise KafkaError("not connected")
        value = (
            None
            if state is None
            else SavedRoom(member=self.member, generation=self.generation, room=state)
            .model_dump_json()
            .encode()
        )
        await producer.send_and_wait(
            self.rooms_topic,
            key=str(session_id).encode(),
            value=value,
            partition=self.partition(session_id),
        )

    async def _claim(self, partitions: set[int], *, ready: bool) -> None:
        producer = self._producer
        if producer is None:
            return
        for partition in sorted(partitions):
            claim = OwnerClaim(
                partition=partition,
                partitions=self.partitions,
                url=self.url,
                generation=self.generation,
                member=self.member,
                ready=ready,
            )
            value = claim.model_dump_json().encode()
            await producer.send(self.directory.topic, key=claim.key(), value=value)
        await producer.flush()

    # ---- the group --------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Be a member of the group until stopped (or drained), reconnecting after errors."""
        while not self._stopping.is_set():
            try:
                await self._ensure_topics()
                await self._membership()
            except (KafkaError, OSError) as exc:
                log.warning("room ownership reconnecting: %s", type(exc).__name__)
                await self._lose_everything()
            finally:
                await self._close()
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self._retry)
            except TimeoutError:
                pass

    async def _ensure_topics(self) -> None:
        existing = await ensure_topic(
            self._bootstrap,
            self.rooms_topic,
            partitions=self.partitions,
            replication_factor=self._replication,
        )
        if existing != self.partitions:
            # Session ids map by the count: the running topic's count is the truth.
            log.warning("rooms topic has %s partitions, not %s", existing, self.partitions)
            self.partitions = existing
        await ensure_topic(
            self._bootstrap,
            self.directory.topic,
            partitions=1,
            replication_factor=self._replication,
        )

    async def _membership(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap,
            client_id="signaling-rooms",
            enable_idempotence=True,
            acks="all",
            linger_ms=0,
            request_timeout_ms=5_000,
        )
        await self._producer.start()
        self._reader = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=None,
            enable_auto_commit=False,
            client_id="signaling-rooms-reader",
            # The reader only reads gained partitions to their end: a fetch left waiting at
            # the broker for new records (500 ms by default) would hold up the next load,
            # which has to wait for it (measured: half a second of a takeover).
            fetch_max_wait_ms=20,
        )
        await self._reader.start()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=self._group_id,
            client_id="signaling-rooms",
            enable_auto_commit=False,
            auto_offset_reset="latest",
            partition_assignment_strategy=(StickyPartitionAssignor,),
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=self._heartbeat_ms,
            # A rebalance waits this long for every member to rejoin.
            max_poll_interval_ms=max(10_000, self._session_timeout_ms),
            rebalance_timeout_ms=max(10_000, self._session_timeout_ms),
            metadata_max_age_ms=5_000,
        )
        self._consumer = consumer
        consumer.subscribe([self.rooms_topic], listener=_Listener(self))
        await consumer.start()
        # Polled in a task of its own, which a drain cancels before it leaves the group.
        polling = self._polling = asyncio.create_task(self._poll(consumer))
        try:
            await asyncio.wait({polling})
        finally:
            polling.cancel()
        if polling.cancelled():
            # Drained: the clients are closed once the claims are withdrawn (the producer).
            await self._handed_over.wait()
            return
        polling.result()

    async def _poll(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while not self._stopping.is_set():
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        await self._watch(record.key, record.value)
        except ConsumerStoppedError:
            return

    async def _watch(self, key: bytes | None, value: bytes | None) -> None:
        """A write to a partition this process owns: overwrite a stale owner's."""
        if key is None or value is None or self._current is None:
            return
        try:
            saved = SavedRoom.model_validate_json(value)
        except ValidationError:
            return
        if saved.member == self.member or saved.generation >= self.generation:
            return
        session_id = saved.room.session_id
        if not self.owns(session_id):
            return
        log.warning("overwriting a stale owner's write (generation %s)", saved.generation)
        await self.save(session_id, self._current(session_id))

    async def _rebalancing(self) -> None:
        self._settled.clear()

    async def _assigned(self, assigned: set[TopicPartition]) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        consumer = self._consumer
        assert consumer is not None
        # aiokafka keeps the group's generation and this member's id on its coordinator only.
        coordinator: Any = consumer._coordinator  # noqa: SLF001
        self.generation = int(coordinator.generation)
        self.member = str(coordinator.member_id)
        partitions = {tp.partition for tp in assigned if tp.topic == self.rooms_topic}
        lost = self._owned - partitions
        gained = partitions - self._owned
        self.rebalances += 1
        loaded = 0
        if lost and self._on_lost is not None:
            self._owned -= lost
            await self._on_lost(lost)
        if gained and self._on_gained is not None:
            states = await self._load(gained)
            loaded = len(states)
            self.rooms_loaded += loaded
            await self._on_gained(states)
        self._owned = partitions
        self._assigned_once = True
        await self._claim(partitions, ready=not self.draining)
        self._settled.set()
        log.info(
            "rooms assigned",
            extra={
                "generation": self.generation,
                "partitions": len(partitions),
                "gained": len(gained),
                "rooms_loaded": loaded,
                "took_ms": round((loop.time() - started) * 1000, 1),
            },
        )

    async def _load(self, partitions: set[int]) -> list[RoomState]:
        """Every live room of ``partitions``, read from the start of the rooms topic."""
        reader = self._reader
        assert reader is not None
        wanted = [TopicPartition(self.rooms_topic, p) for p in sorted(partitions)]
        reader.assign(wanted)
        await reader.seek_to_beginning(*wanted)
        ends = await reader.end_offsets(wanted)
        rooms: dict[bytes, RoomState | None] = {}
        remaining = {tp for tp in wanted if ends[tp] > 0}
        while remaining:
            batches = await reader.getmany(*remaining, timeout_ms=500)
            for records in batches.values():
                for record in records:
                    if record.key is None:
                        continue
                    if record.value is None:
                        rooms[record.key] = None
                        continue
                    try:
                        rooms[record.key] = SavedRoom.model_validate_json(record.value).room
                    except ValidationError:
                        log.warning("unreadable room state at offset %s", record.offset)
            for tp in list(remaining):
                if await reader.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        # Nothing to fetch in the background until the next load.
        reader.assign([])
        return [state for state in rooms.values() if state is not None and not state.ended]

    async def _lose_everything(self) -> None:
        lost = set(self._owned)
        self._owned.clear()
        self._settled.clear()
        if lost and self._on_lost is not None:
            await self._on_lost(lost)

    async def _close(self) -> None:
        for client in (self._consumer, self._reader, self._producer):
            if client is None:
                continue
            try:
                await client.stop()
            except (KafkaError, OSError, asyncio.CancelledError) as exc:
                log.warning("closing a Kafka client failed: %s", type(exc).__name__)
        self._consumer = self._reader = self._producer = None

    # ---- draining ---------------------------------------------------------------------

    def stop_owning(self) -> None:
        """The first step of a drain: from now on no change to a room is made here (``owns``
        and ``holds`` answer False), so that what the successors read is the last word."""
        self.draining = True

    async def drain(self, successor_wait_seconds: float, on_handed: Handed) -> None:
        """Hand this process's rooms over: leave the group at once (its coordinator starts the
        rebalance that gives the partitions to the others), tell the gateway meanwhile to
        route nothing new here, and call ``on_handed`` with each set of partitions as soon as
        a successor has claimed them (it holds them and has rebuilt their rooms), so that
        their clients move there without waiting for the slowest successor. Bounded by
        ``successor_wait_seconds``: with no other process there is none."""
        if self._stopping.is_set():
            return
        self.stop_owning()
        loop = asyncio.get_running_loop()
        started = loop.time()
        held = set(self._owned)
        generation = self.generation
        member = self.member
        try:
            polling, consumer = self._polling, self._consumer
            if polling is not None:
                polling.cancel()
                await asyncio.wait({polling})
            if consumer is not None:
                # Sends LeaveGroup now, without rejoining; stopping the consumer (which would
                # leave only after its coordination task and fetcher wind down) comes later.
                # A consumer not started yet, or closed by a Kafka error, has no group to
                # leave (aiokafka then has no coordinator: AttributeError).
                with contextlib.suppress(AttributeError, KafkaError):
                    consumer.unsubscribe()
            try:
                await self._claim(held, ready=False)
            except (KafkaError, OSError) as exc:
                log.warning("could not withdraw the owner claims: %s", type(exc).__name__)
        finally:
            self._stopping.set()
            self._handed_over.set()
        self._owned.clear()
        log.info(
            "draining: left the group",
            extra={"partitions": len(held), "after_ms": _ms_since(loop, started)},
        )
        deadline = loop.time() + successor_wait_seconds
        waiting = set(held)
        while waiting:
            claims = self.directory.owners_of(waiting)
            handed = {
                p
                for p in waiting
                if (c := claims.get(p)) is not None
                and c.generation > generation
                and c.member != member
                and c.ready
            }
            if handed:
                waiting -= handed
                log.info(
                    "draining: a successor holds partitions",
                    extra={"partitions": len(handed), "after_ms": _ms_since(loop, started)},
                )
                await on_handed(handed)
                continue
            left = deadline - loop.time()
            if left <= 0 or not await self.directory.changed(left):
                log.info("no successor claimed every room in time; moving clients anyway")
                break


def _ms_since(loop: asyncio.AbstractEventLoop, started: float) -> float:
    return round((loop.time() - started) * 1000, 1)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, ownership: RoomOwnership) -> None:
        self._ownership = ownership

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._ownership._rebalancing()  # noqa: SLF001

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._ownership._assigned(assigned)  # noqa: SLF001
