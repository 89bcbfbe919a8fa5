"""Kafka in and out: an idempotent publisher, a typed handler router, and a consumer.

The consumer applies each batch in one database transaction together with the inbox ids,
commits the offsets only after that transaction commits, retries transient failures, and
sends an event that keeps failing (or cannot be decoded) to the dead-letter topic with the
error, then moves on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import Database
from shared.events.catalog import Payload, dead_letter_topic
from shared.events.envelope import Envelope, MalformedEvent, decode
from shared.events.inbox import already_processed, mark_all_processed
from shared.tracing import consuming, tracing_enabled

log = logging.getLogger(__name__)

OutgoingRecord = tuple[str, bytes, bytes, list[tuple[str, bytes]]]


class EventPublisher:
    """An idempotent, acks=all producer that starts lazily so a service boots without Kafka."""

    def __init__(self, bootstrap_servers: str, *, client_id: str) -> None:
        self._bootstrap = bootstrap_servers
        self._client_id = client_id
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    client_id=self._client_id,
                    enable_idempotence=True,
                    acks="all",
                    linger_ms=2,
                    request_timeout_ms=10_000,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> list[Any]:
        """Send records (topic, key, value, headers); one result or exception per record."""
        producer = await self._started()
        futures = []
        for topic, key, value, headers in records:
            futures.append(await producer.send(topic, value=value, key=key, headers=headers))
        return list(await asyncio.gather(*futures, return_exceptions=True))

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]
    ) -> None:
        """Send one record and wait for the broker's acknowledgement."""
        producer = await self._started()
        await producer.send_and_wait(topic, value=value, key=key, headers=headers)

    async def check(self) -> None:
        """Readiness: raise unless a broker of the cluster answers a metadata request now."""
        producer = await self._started()
        await producer.client.fetch_all_metadata()

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


P = TypeVar("P", bound=Payload)
#: What a consumed event is handed to: the consumer's session (the batch's unit of work) and
#: the typed event; usually a service function, registered as it is.
EventHandler = Callable[[AsyncSession, P], Awaitable[object]]
#: The same, for a handler that also needs the envelope's metadata (its id, its time).
EnvelopeHandler = Callable[[AsyncSession, P, Envelope], Awaitable[object]]
_Dispatch = Callable[[AsyncSession, Envelope], Awaitable[object]]


class EventRouter:
    """Maps event types to typed handlers; the payload class is the contract.

    Each service builds its router in ``events.build_router()``, called by its app factory:
    registering is explicit and happens per app, never as a side effect of an import.
    Several handlers of one event type run in the order they were registered.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, list[_Dispatch]] = {}
        self._topics: set[str] = set()

    def on(self, payload_type: type[P], handler: EventHandler[P]) -> None:
        """Hand each ``payload_type`` event to ``handler(session, event)``."""

        async def dispatch(session: AsyncSession, envelope: Envelope) -> object:
            return await handler(session, cast(P, envelope.payload))

        self._register(payload_type, dispatch)

    def on_envelope(self, payload_type: type[P], handler: EnvelopeHandler[P]) -> None:
        """Hand each ``payload_type`` event to ``handler(session, event, envelope)``."""

        async def dispatch(session: AsyncSession, envelope: Envelope) -> object:
            return await handler(session, cast(P, envelope.payload), envelope)

        self._register(payload_type, dispatch)

    def _register(self, payload_type: type[Payload], dispatch: _Dispatch) -> None:
        # Dispatch goes by the envelope's type, so a handler only ever sees its payload class.
        event_type = payload_type.model_fields["type"].default
        self._handlers.setdefault(event_type, []).append(dispatch)
        self._topics.add(payload_type.topic)

    @property
    def topics(self) -> list[str]:
        return sorted(self._topics)

    @property
    def event_types(self) -> list[str]:
        """The event types this router hands to a handler (its subscriptions)."""
        return sorted(self._handlers)

    def handles(self, event_type: str) -> bool:
        return event_type in self._handlers

    async def dispatch(self, session: AsyncSession, envelope: Envelope) -> None:
        for handler in self._handlers.get(envelope.type, []):
            await handler(session, envelope)


# Failures that say nothing about the event itself: keep retrying, never dead-letter.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    DBAPIError,
    ConnectionError,
    TimeoutError,
)


# Error classes counted apart in ConsumerStats; any further ones share one "other" count.
DEAD_LETTER_CLASSES_KEPT = 32


@dataclass
class ConsumerStats:
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    # Dead letters by error class ("MalformedEvent", "ValueError", …): a bounded number of
    # counters however long the consumer runs; each letter's full reason is in its headers.
    dead_letter_reasons: Counter[str] = field(default_factory=Counter)

    def count_dead_letter(self, error: BaseException) -> None:
        self.dead_lettered += 1
        kind = type(error).__name__
        known = kind in self.dead_letter_reasons
        if not known and len(self.dead_letter_reasons) >= DEAD_LETTER_CLASSES_KEPT:
            kind = "other"
        self.dead_letter_reasons[kind] += 1


class EventConsumer:
    """Consumes the router's topics in a consumer group and applies events exactly once."""

    def __init__(
        self,
        *,
        name: str,
        router: EventRouter,
        database: Database,
        publisher: EventPublisher,
        bootstrap_servers: str,
        max_attempts: int = 3,
        batch_size: int = 500,
        retry_backoff_seconds: float = 0.2,
    ) -> None:
        self.name = name
        self.stats = ConsumerStats()
        self._router = router
        self._database = database
        self._publisher = publisher
        self._bootstrap = bootstrap_servers
        self._max_attempts = max_attempts
        self._batch_size = batch_size
        self._retry_backoff = retry_backoff_seconds
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = False
        self.assigned = asyncio.Event()

    async def _start(self) -> AIOKafkaConsumer:
        consumer = AIOKafkaConsumer(
            *self._router.topics,
            bootstrap_servers=self._bootstrap,
            group_id=self.name,
            client_id=self.name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=self._batch_size,
        )
        try:
            await consumer.start()
        except BaseException:
            await consumer.stop()
            raise
        return consumer

    def stop(self) -> None:
        """Finish the batch in flight, commit it, then return from :meth:`run`."""
        self._stopping = True

    async def run(self) -> None:
        """Consume until :meth:`stop`; reconnects with backoff while Kafka is unreachable."""
        backoff = 0.2
        while not self._stopping:
            try:
                if self._consumer is None:
                    self._consumer = await self._start()
                    backoff = 0.2
                batches = await self._consumer.getmany(timeout_ms=500)
                if self._consumer.assignment():
                    self.assigned.set()
                for partition, records in batches.items():
                    await self._apply_batch(records)
                    await self._consumer.commit({partition: records[-1].offset + 1})
            except asyncio.CancelledError:
                raise
            except KafkaError as exc:
                log.warning("consumer %s: kafka error, retrying: %s", self.name, exc)
                await self._reset()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def lag(self) -> dict[TopicPartition, int]:
        """Records not yet consumed, per assigned partition (as of the last fetch)."""
        consumer = self._consumer
        if consumer is None:
            return {}
        lags: dict[TopicPartition, int] = {}
        for partition in consumer.assignment():
            # The last stable offset: with read_committed, records past it cannot be read yet.
            end = consumer.last_stable_offset(partition)
            if end is None:
                continue
            lags[partition] = max(end - await consumer.position(partition), 0)
        return lags

    async def _reset(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            try:
                await consumer.stop()
            except KafkaError:
                pass

    async def close(self) -> None:
        await self._reset()

    async def _apply_batch(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        """Apply a partition's batch in one transaction; on failure, record by record."""
        decoded: list[tuple[ConsumerRecord[bytes, bytes], Envelope]] = []
        poison: list[tuple[ConsumerRecord[bytes, bytes], MalformedEvent]] = []
        for record in records:
            try:
                decoded.append((record, decode(record.key, record.value, record.headers)))
            except MalformedEvent as exc:
                poison.append((record, exc))
        wanted = [(r, e) for r, e in decoded if self._router.handles(e.type)]
        try:
            await self._apply(wanted)
        except TRANSIENT_ERRORS:
            await self._apply_one_by_one(wanted, transient_first=True)
        except Exception:
            await self._apply_one_by_one(wanted, transient_first=False)
        for record, error in poison:
            await self._dead_letter(record, error, f"malformed: {error}")

    async def _apply(self, items: list[tuple[ConsumerRecord[bytes, bytes], Envelope]]) -> None:
        if not items:
            return
        async with self._database.unit_of_work() as session:
            seen = await already_processed(session, self.name, (e.id for _, e in items))
            duplicates = 0
            applied: list[str] = []
            for record, envelope in items:
                if envelope.id in seen:
                    duplicates += 1
                    continue
                seen.add(envelope.id)
                applied.append(envelope.id)
                if tracing_enabled():
                    with consuming(
                        envelope.type, record.topic, envelope.id, envelope.trace_context
                    ):
                        await self._router.dispatch(session, envelope)
                else:
                    await self._router.dispatch(session, envelope)
            await mark_all_processed(session, self.name, applied)
        self.stats.applied += len(items) - duplicates
        self.stats.duplicates += duplicates

    async def _apply_one_by_one(
        self, items: list[tuple[ConsumerRecord[bytes, bytes], Envelope]], *, transient_first: bool
    ) -> None:
        for record, envelope in items:
            attempts = 0
            transient_backoff = self._retry_backoff
            while True:
                try:
                    await self._apply([(record, envelope)])
                    break
                except TRANSIENT_ERRORS as exc:
                    # The database (or network) is down: the event is fine, so wait, do not
                    # dead-letter it. Offsets stay uncommitted until it is applied.
                    log.warning("consumer %s: transient failure, retrying: %s", self.name, exc)
                    await asyncio.sleep(transient_backoff)
                    transient_backoff = min(transient_backoff * 2, 5.0)
                except Exception as exc:
                    attempts += 1
                    log.warning(
                        "consumer %s: event %s (%s) failed attempt %d/%d: %s",
                        self.name,
                        envelope.id,
                        envelope.type,
                        attempts,
                        self._max_attempts,
                        type(exc).__name__,
                    )
                    if attempts >= self._max_attempts:
                        await self._dead_letter(record, exc, f"{type(exc).__name__}: {exc}")
                        break
                    await asyncio.sleep(self._retry_backoff * attempts)

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], error: Exception, reason: str
    ) -> None:
        headers = list(record.headers) + [
            ("rapport_dlq_reason", reason[:1000].encode()),
            ("rapport_dlq_consumer", self.name.encode()),
            ("rapport_dlq_topic", record.topic.encode()),
            ("rapport_dlq_partition", str(record.partition).encode()),
            ("rapport_dlq_offset", str(record.offset).encode()),
        ]
        await self._publisher.publish(
            dead_letter_topic(record.topic), record.key, record.value or b"", headers
        )
        self.stats.count_dead_letter(error)
        log.error(
            "consumer %s: dead-lettered %s[%d]@%d: %s",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            reason.split(":")[0],
        )


__all__ = [
    "EnvelopeHandler",
    "EventConsumer",
    "EventHandler",
    "EventPublisher",
    "EventRouter",
    "TopicPartition",
]
