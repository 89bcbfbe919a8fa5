"""Refusing revoked tokens at the edge: identity's revocation events, applied to the verifier.

Every gateway process must see every revocation, so this reads ``rapport.identity`` without a
consumer group (all partitions, nothing committed). On start it seeks back ``lookback`` (the
longest access-token lifetime, plus a margin): older revocations only concern tokens that have
expired anyway. While Kafka is unreachable it retries; access tokens live at most 15 minutes.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from shared.events.catalog import TOPIC_IDENTITY, TokensRevoked, UserDeactivated, UserRoleChanged
from shared.events.envelope import MalformedEvent, decode
from shared.tokens import TokenVerifier

log = logging.getLogger(__name__)

# A logout ends one refresh token family; the access tokens of that login are not marked with
# their family, so the edge leaves them to expire (at most 15 minutes) rather than logging the
# user out everywhere. A revocation of every family at once (``family_id`` null: a password
# change) ends every session, so it covers every access token too.
_SUBJECT_WIDE_REASONS = frozenset({"refresh_reuse", "deactivated", "role_changed"})


class RevocationListener:
    """Applies identity's ``tokens.revoked``, ``user.deactivated`` and ``user.role_changed``."""

    def __init__(
        self,
        verifier: TokenVerifier,
        *,
        bootstrap_servers: str,
        lookback_seconds: float,
        retry_seconds: float = 1.0,
    ) -> None:
        self._verifier = verifier
        self._bootstrap = bootstrap_servers
        self._lookback = lookback_seconds
        self._retry = retry_seconds
        self._stopping = asyncio.Event()
        self.applied = 0

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Follow the identity topic until stopped, reconnecting after Kafka errors."""
        while not self._stopping.is_set():
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                # Notices the topic (and new partitions) soon after they appear.
                metadata_max_age_ms=1000,
                client_id="gateway-revocations",
            )
            try:
                await consumer.start()
                await self._follow(consumer)
            except (KafkaError, OSError) as exc:
                log.warning("revocation listener reconnecting: %s", type(exc).__name__)
            finally:
                await consumer.stop()
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self._retry)
            except TimeoutError:
                pass

    async def _follow(self, consumer: AIOKafkaConsumer) -> None:
        # Without a group, a subscription is assigned every partition of the topic.
        consumer.subscribe([TOPIC_IDENTITY])
        since_ms = int((time.time() - self._lookback) * 1000)
        positioned: set[TopicPartition] = set()
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            for partition, records in batches.items():
                if partition in positioned:
                    for record in records:
                        if record.timestamp >= since_ms:
                            self.apply(record.key, record.value, record.headers)
            # A newly assigned partition is read from ``since_ms`` on, not from its beginning
            # (whatever the fetch above returned for it is read again after the seek).
            new = consumer.assignment() - positioned
            if new:
                await self._seek_back(consumer, new, since_ms)
                positioned |= new
                log.info("following revocations on %d partitions", len(positioned))

    async def _seek_back(
        self, consumer: AIOKafkaConsumer, partitions: set[TopicPartition], since_ms: int
    ) -> None:
        offsets = await consumer.offsets_for_times(dict.fromkeys(partitions, since_ms))
        for partition in partitions:
            found = offsets.get(partition)
            if found is None:
                await consumer.seek_to_end(partition)
            else:
                consumer.seek(partition, found.offset)

    def apply(
        self, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        """Apply one record of the identity topic (anything but a revocation is ignored)."""
        try:
            payload = decode(key, value, headers).payload
        except MalformedEvent:
            return  # not ours to judge: identity's own consumers dead-letter bad events
        if isinstance(payload, TokensRevoked) and (
            payload.reason in _SUBJECT_WIDE_REASONS or payload.family_id is None
        ):
            before = payload.revoked_before
        elif isinstance(payload, UserDeactivated):
            before = payload.deactivated_at
        elif isinstance(payload, UserRoleChanged):
            before = payload.changed_at
        else:
            return
        self._verifier.revoke_subject(str(payload.user_id), before=before.timestamp())
        self.applied += 1
        log.info("revoked tokens of %s issued before %s", payload.user_id, before.isoformat())
