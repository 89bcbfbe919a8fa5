"""Identity's revocations, followed by every process that holds live credentials.

The gateway refuses a revoked user's still-valid access tokens; signaling closes their live
sockets. A revocation ends every token of a user (deactivation, a role change, a reused refresh
token, a password change) or the tokens of one sign-in (a logout: its refresh-token family,
named in the access and signaling tokens minted from it). Both must see every revocation,
whichever partition it is on and whichever process holds the user's connection, so a
:class:`RevocationFollower` reads every partition of ``rapport.identity`` without a consumer
group and commits nothing. On start it reads back
``lookback`` (the longest token lifetime, plus a margin): older revocations only concern
tokens that have expired anyway. While Kafka is unreachable it retries.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from shared.events.catalog import (
    TOPIC_IDENTITY,
    EventPayload,
    SessionGuestRevoked,
    TokensRevoked,
    UserDeactivated,
    UserRoleChanged,
)
from shared.events.envelope import MalformedEvent, decode
from shared.tokens import TokenVerifier

log = logging.getLogger(__name__)

# These reasons, and a revocation of every family at once (``family_id`` null: a password
# change), concern every token the user holds. A reused refresh token ends them all although
# it names one family: either the holder or a thief has a copy, and the thief may have signed
# in elsewhere too. A logout ends only the family it names: the user's other devices stay
# signed in.
SUBJECT_WIDE_REASONS = frozenset({"refresh_reuse", "deactivated", "role_changed"})


@dataclass(frozen=True)
class Revocation:
    """Tokens of ``user_id`` that must be refused from now on: those issued at or before
    ``before``, or, when ``family_id`` is set, only (and all of) that sign-in's."""

    user_id: uuid.UUID
    before: datetime
    family_id: uuid.UUID | None = None

    def apply_to(self, verifier: TokenVerifier) -> None:
        """Make ``verifier`` refuse the revoked tokens."""
        if self.family_id is None:
            verifier.revoke_subject(str(self.user_id), before=self.before.timestamp())
        else:
            verifier.revoke_family(self.family_id, at=self.before.timestamp())


Revoke = Callable[[Revocation], Awaitable[None]]

# Reconnect attempts while Kafka is down back off to this: a revocation published during an
# outage still arrives within seconds of the broker's return (and is read back on connect).
MAX_RETRY_SECONDS = 8.0


def revocation_of(payload: EventPayload) -> Revocation | None:
    """Which tokens ``payload`` revokes; None if it revokes none."""
    if isinstance(payload, UserDeactivated):
        return Revocation(payload.user_id, payload.deactivated_at)
    if isinstance(payload, UserRoleChanged):
        return Revocation(payload.user_id, payload.changed_at)
    if isinstance(payload, TokensRevoked):
        if payload.reason in SUBJECT_WIDE_REASONS or payload.family_id is None:
            return Revocation(payload.user_id, payload.revoked_before)
        return Revocation(payload.user_id, payload.revoked_before, family_id=payload.family_id)
    if isinstance(payload, SessionGuestRevoked):
        # A guest's tokens have the guest as subject: all of them end, and a guest still in
        # the room is taken out of it like any revoked user.
        return Revocation(payload.guest_id, payload.revoked_at)
    return None


class RevocationFollower:
    """Follows ``rapport.identity`` and awaits ``revoke(revocation)`` for each revocation."""

    def __init__(
        self,
        revoke: Revoke,
        *,
        client_id: str,
        bootstrap_servers: str,
        lookback_seconds: float,
        retry_seconds: float = 1.0,
    ) -> None:
        self._revoke = revoke
        self._client_id = client_id
        self._bootstrap = bootstrap_servers
        self._lookback = lookback_seconds
        self._retry = retry_seconds
        self._stopping = asyncio.Event()
        self.applied = 0

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Follow the identity topic until stopped, reconnecting after Kafka errors.

        Reconnects back off from ``retry_seconds`` to ``MAX_RETRY_SECONDS`` and the outage is
        logged once, not on every attempt.
        """
        delay = self._retry
        while not self._stopping.is_set():
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._bootstrap,
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                # Notices the topic (and new partitions) soon after they appear.
                metadata_max_age_ms=1000,
                client_id=self._client_id,
            )
            try:
                await consumer.start()
                delay = self._retry  # connected: the next outage starts from the short delay
                await self._follow(consumer)
            except (KafkaError, OSError) as exc:
                if delay == self._retry:
                    log.warning("revocation follower reconnecting: %s", type(exc).__name__)
                else:
                    log.debug("revocation follower still reconnecting: %s", type(exc).__name__)
            finally:
                await consumer.stop()
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            except TimeoutError:
                pass
            delay = min(delay * 2, MAX_RETRY_SECONDS)

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
                            await self.apply(record.key, record.value, record.headers)
            # A newly assigned partition is read from ``since_ms`` on, not from its beginning
            # (whatever the fetch above returned for it is read again after the seek).
            new = consumer.assignment() - positioned
            if new:
                # The end is taken first: a record appended while the times are looked up
                # must be read, not skipped by a later seek to the (new) end.
                ends = await consumer.end_offsets(list(new))
                offsets = await consumer.offsets_for_times(dict.fromkeys(new, since_ms))
                for partition in new:
                    found = offsets.get(partition)
                    consumer.seek(partition, ends[partition] if found is None else found.offset)
                positioned |= new
                log.info("following revocations on %d partitions", len(positioned))

    async def apply(
        self, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        """Apply one record of the identity topic (anything but a revocation is ignored)."""
        try:
            payload = decode(key, value, headers).payload
        except MalformedEvent:
            return  # not ours to judge: identity's own consumers dead-letter bad events
        revocation = revocation_of(payload)
        if revocation is None:
            return
        await self._revoke(revocation)
        self.applied += 1
        if revocation.family_id is None:
            log.info(
                "revoked tokens of %s issued before %s",
                revocation.user_id,
                revocation.before.isoformat(),
            )
        else:
            log.info(
                "revoked the tokens of sign-in %s of %s", revocation.family_id, revocation.user_id
            )
