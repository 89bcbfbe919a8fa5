"""Delivery state: claiming due deliveries, recording each attempt, retrying, giving up.

The dispatcher claims what is due, sends it and records the outcome through these functions;
each call runs in a unit of work the dispatcher opened and commits.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from services.webhooks import repository
from services.webhooks.models import (
    DeliveryAttempt,
    DeliveryStatus,
    WebhookEndpoint,
)
from shared.events.catalog import WebhookEndpointDisabled
from shared.events.outbox import add_event

EVENT_SOURCE = "/rapport/webhooks"


@dataclass(frozen=True)
class DueDelivery:
    """Everything needed to make one attempt, detached from the unit of work that claimed it."""

    delivery_id: str
    endpoint_id: uuid.UUID
    url: str
    secrets: list[str]
    message: dict[str, Any]
    attempt_number: int


async def claim_due_deliveries(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    in_flight: Mapping[uuid.UUID, int] | None = None,
    per_endpoint_limit: int | None = None,
) -> list[DueDelivery]:
    """Take up to ``limit`` due deliveries for sending.

    Each is leased by moving ``next_attempt_at`` past the attempt's longest possible duration:
    if the process dies mid-send, the delivery becomes due again when the lease runs out
    (at-least-once; the stable webhook-id lets receivers drop the duplicate).

    With ``per_endpoint_limit``, no endpoint gets more than that many attempts in flight
    (counting ``in_flight``), so one slow endpoint's backlog cannot take every sending slot.
    """
    busy = Counter(in_flight or {})
    saturated = (
        {e for e, n in busy.items() if n >= per_endpoint_limit}
        if per_endpoint_limit is not None
        else set()
    )
    claimed: list[DueDelivery] = []
    while len(claimed) < limit:
        rows = await repository.lock_due_deliveries(
            session, now=now, limit=limit - len(claimed), skip_endpoints=saturated
        )
        if not rows:
            break
        for delivery, endpoint in rows:
            if endpoint.id in saturated:
                continue  # this endpoint filled up earlier in the batch; its turn comes later
            busy[endpoint.id] += 1
            if per_endpoint_limit is not None and busy[endpoint.id] >= per_endpoint_limit:
                saturated.add(endpoint.id)
            delivery.next_attempt_at = now + lease
            repository.add(session, delivery)
            claimed.append(
                DueDelivery(
                    delivery_id=delivery.id,
                    endpoint_id=endpoint.id,
                    url=endpoint.url,
                    secrets=endpoint.signing_secrets(now),
                    message=delivery.payload,
                    attempt_number=delivery.attempt_count + 1,
                )
            )
        await session.flush()
    return claimed


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt got: an HTTP status, or the error that kept it from getting one."""

    attempted_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None
    # The endpoint's Retry-After (on 429 and 503), in seconds from the end of the attempt.
    retry_after_seconds: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class RetryPolicy:
    """When failed deliveries are tried again, and when an endpoint is given up on."""

    schedule: Sequence[float]
    # Each delay is stretched or shrunk by up to this fraction, at random, so that retries of
    # many deliveries that failed together (an endpoint's outage) do not all land at once.
    jitter: float = 0.0
    # An endpoint whose attempts have all failed for this long is disabled.
    disable_after: timedelta = timedelta(days=5)
    # Retry-After is honoured up to this long (a partner cannot park a delivery for a year).
    max_retry_after_seconds: float = 86400.0


def next_attempt_at(
    finished_at: datetime,
    failed_attempts: int,
    retry_schedule: Sequence[float],
    *,
    jitter: float = 0.0,
    retry_after_seconds: float | None = None,
    max_retry_after_seconds: float = 86400.0,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to try again after ``failed_attempts`` failures; None once the schedule is spent.

    A Retry-After longer than the scheduled delay wins (capped); a shorter one does not bring
    the retry forward.
    """
    if failed_attempts > len(retry_schedule):
        return None
    delay = retry_schedule[failed_attempts - 1]
    if jitter:
        delay *= (rng or _jitter_rng).uniform(1 - jitter, 1 + jitter)
    if retry_after_seconds is not None:
        delay = max(delay, min(retry_after_seconds, max_retry_after_seconds))
    return finished_at + timedelta(seconds=delay)


_jitter_rng = random.Random()  # noqa: S311  (spreading retries out, not security)


def _disable(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    *,
    reason: Literal["gone", "failing"],
    at: datetime,
) -> None:
    endpoint.disabled_at = at
    endpoint.disabled_reason = (
        "the endpoint answered 410 Gone"
        if reason == "gone"
        else f"every attempt failed since {endpoint.failing_since}"
    )
    repository.add(session, endpoint)
    add_event(
        session,
        WebhookEndpointDisabled(
            endpoint_id=endpoint.id,
            owner_id=endpoint.owner_id,
            reason=reason,
            failing_since=endpoint.failing_since,
            disabled_at=at,
        ),
        source=EVENT_SOURCE,
    )


async def record_attempt(
    session: AsyncSession,
    delivery_id: str,
    outcome: AttemptOutcome,
    *,
    policy: RetryPolicy,
) -> datetime | None:
    """Store the attempt and move the delivery on; return when it is due again, if it is.

    A 410 Gone disables the endpoint; so does failing without a single success for
    ``policy.disable_after``. Either emits ``webhooks.endpoint.disabled``. Deliveries left
    pending on a disabled endpoint wait (unclaimed) until it is enabled again.
    """
    found = await repository.delivery_with_endpoint(session, delivery_id)
    if found is None:
        return None
    delivery, endpoint = found
    delivery.attempt_count += 1
    delivery.last_attempt_at = outcome.attempted_at
    repository.add(
        session,
        DeliveryAttempt(
            delivery_id=delivery.id,
            attempt_number=delivery.attempt_count,
            attempted_at=outcome.attempted_at,
            status_code=outcome.status_code,
            error=outcome.error[:500] if outcome.error else None,
            duration_ms=outcome.duration_ms,
        ),
    )
    finished_at = outcome.attempted_at + timedelta(milliseconds=outcome.duration_ms)
    if outcome.succeeded:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = outcome.attempted_at
        delivery.next_attempt_at = None
        if endpoint.failing_since is not None:
            endpoint.failing_since = None
            repository.add(session, endpoint)
    elif delivery.status != DeliveryStatus.PENDING or endpoint.deleted_at is not None:
        # The endpoint was deleted while this attempt was in flight: no more retries.
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
    else:
        if endpoint.failing_since is None:
            endpoint.failing_since = outcome.attempted_at
            repository.add(session, endpoint)
        if outcome.status_code == 410:
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
            if endpoint.disabled_at is None:
                _disable(session, endpoint, reason="gone", at=finished_at)
        else:
            delivery.next_attempt_at = next_attempt_at(
                finished_at,
                delivery.attempt_count - delivery.attempts_before_replay,
                policy.schedule,
                jitter=policy.jitter,
                retry_after_seconds=outcome.retry_after_seconds,
                max_retry_after_seconds=policy.max_retry_after_seconds,
            )
            if delivery.next_attempt_at is None:
                delivery.status = DeliveryStatus.FAILED
            if (
                endpoint.disabled_at is None
                and finished_at - endpoint.failing_since >= policy.disable_after
            ):
                _disable(session, endpoint, reason="failing", at=finished_at)
    repository.add(session, delivery)
    return delivery.next_attempt_at if endpoint.disabled_at is None else None


@dataclass(frozen=True)
class Backlog:
    """One endpoint's deliveries still waiting to succeed."""

    endpoint_id: uuid.UUID
    pending: int
    oldest_queued_at: datetime


async def backlog(session: AsyncSession) -> list[Backlog]:
    """The pending deliveries of every endpoint that has some."""
    return [Backlog(*row) for row in await repository.pending_per_endpoint(session)]
