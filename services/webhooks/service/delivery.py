"""Delivery state: claiming due deliveries, recording each attempt, retrying, giving up.

The dispatcher claims what is due, sends it and records the outcome through these functions;
each call runs in a unit of work the dispatcher opened and commits.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from services.webhooks import repository
from services.webhooks.messages import signing_key_context
from services.webhooks.models import (
    DeliveryStatus,
    WebhookEndpoint,
)
from shared.db import utc_now
from shared.events.catalog import WebhookEndpointDisabled
from shared.events.outbox import add_event
from shared.secret_box import SecretBox

EVENT_SOURCE = "/rapport/webhooks"


@dataclass(frozen=True)
class DueDelivery:
    """Everything needed to make one attempt, detached from the unit of work that claimed it."""

    delivery_id: str
    endpoint_id: uuid.UUID
    url: str
    # HMAC secrets ("v1").
    secrets: list[str]
    message: dict[str, Any]
    attempt_number: int
    # Ed25519 private keys ("v1a"), opened from their sealed form for this attempt only.
    signing_keys: list[str] = field(default_factory=list)
    # The claim's lease (which also tells this claim from a later one of the same delivery)
    # and when the delivery was due before it: a claim given back is due at that time again.
    leased_until: datetime | None = None
    due_at: datetime | None = None


async def claim_due_deliveries(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    box: SecretBox,
    in_flight: Mapping[uuid.UUID, int] | None = None,
    per_endpoint_limit: int | None = None,
) -> list[DueDelivery]:
    """Take up to ``limit`` due deliveries for sending, oldest due first.

    Each is leased by moving ``next_attempt_at`` past the attempt's longest possible duration:
    if the process dies mid-send, the delivery becomes due again when the lease runs out
    (at-least-once; the stable webhook-id lets receivers drop the duplicate).

    With ``per_endpoint_limit``, no endpoint gets more than that many attempts in flight
    (counting ``in_flight``), so one slow endpoint's backlog cannot take every sending slot.

    A claim may wait in the dispatcher for a free slot (``lease`` must cover that wait): it
    is sent only once :func:`confirm_claims` has seen it still pending, still leased by this
    claim and its endpoint still enabled.
    """
    busy = Counter(in_flight or {})
    saturated = (
        {e for e, n in busy.items() if n >= per_endpoint_limit}
        if per_endpoint_limit is not None
        else set()
    )
    leased: list[repository.LeasedDelivery] = []
    while len(leased) < limit:
        wanted = limit - len(leased)
        candidates = await repository.lock_due_deliveries(
            session, now=now, limit=wanted, skip_endpoints=saturated
        )
        chosen: list[str] = []
        due_at = {delivery_id: due for delivery_id, _, due in candidates}
        for delivery_id, endpoint_id, _ in candidates:
            if endpoint_id in saturated:
                continue  # this endpoint filled up earlier in the batch; its turn comes later
            chosen.append(delivery_id)
            busy[endpoint_id] += 1
            if per_endpoint_limit is not None and busy[endpoint_id] >= per_endpoint_limit:
                saturated.add(endpoint_id)
        order = {delivery_id: n for n, delivery_id in enumerate(chosen)}
        rows = await repository.lease_deliveries(
            session, {d: due_at[d] for d in chosen}, now=now, until=now + lease
        )
        leased += sorted(rows, key=lambda row: order[row.id])
        if len(candidates) < wanted:
            break  # every due delivery has been looked at
        # Otherwise some were passed over for an endpoint that filled up (which the next
        # look skips), or lost to a concurrent change: look again for the free slots.
    endpoints = await repository.endpoints_by_id(session, {row.endpoint_id for row in leased})
    signing = {
        endpoint.id: (
            endpoint.signing_secrets(now),
            [
                box.open(sealed, context=signing_key_context(endpoint.id, public))
                for sealed, public in endpoint.signing_key_pairs(now)
            ],
        )
        for endpoint in endpoints.values()
    }
    return [
        DueDelivery(
            delivery_id=row.id,
            endpoint_id=row.endpoint_id,
            url=endpoints[row.endpoint_id].url,
            secrets=signing[row.endpoint_id][0],
            signing_keys=signing[row.endpoint_id][1],
            message=row.payload,
            attempt_number=row.attempt_count + 1,
            leased_until=now + lease,
            due_at=row.due_at,
        )
        for row in leased
    ]


async def confirm_claims(
    session: AsyncSession,
    claims: Sequence[DueDelivery],
    *,
    now: datetime,
    lease_left: timedelta,
) -> tuple[list[DueDelivery], list[DueDelivery]]:
    """Which claimed deliveries to send now, and which to give back; the rest are forgotten.

    The last look before sending, one statement for all of them: a delivery failed since its
    claim (a grant revoked, the endpoint deleted) is forgotten, and so is one whose lease ran
    out and was taken by another claim. One whose endpoint was disabled meanwhile, or whose
    lease has less than ``lease_left`` to run (not enough for an attempt), is given back.
    """
    states = await repository.claim_states(session, [c.delivery_id for c in claims])
    send: list[DueDelivery] = []
    give_back: list[DueDelivery] = []
    for claim in claims:
        state = states.get(claim.delivery_id)
        if (
            state is None
            or state.status != DeliveryStatus.PENDING
            or state.leased_until != claim.leased_until
        ):
            continue
        if (
            state.endpoint_disabled
            or claim.leased_until is None
            or claim.leased_until - now < lease_left
        ):
            give_back.append(claim)
        else:
            send.append(claim)
    return send, give_back


async def give_back_claims(session: AsyncSession, claims: Sequence[DueDelivery]) -> None:
    """End the leases of claims that will not be sent: each delivery is due again when it
    was before its claim (unless it has changed since), for the next claim to take."""
    await repository.end_leases(
        session, [(c.delivery_id, c.leased_until, c.due_at) for c in claims]
    )


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


def _settle(
    delivery: repository.DeliveryState,
    endpoint: WebhookEndpoint,
    outcome: AttemptOutcome,
    policy: RetryPolicy,
    session: AsyncSession,
) -> dict[str, Any]:
    """The delivery's state after this attempt (as ``Delivery`` fields); the endpoint's
    failing run, and its disabling, are updated on ``endpoint`` itself."""
    attempt_count = delivery.attempt_count + 1
    status = delivery.status
    delivered_at = delivery.delivered_at
    due_again: datetime | None = None
    finished_at = outcome.attempted_at + timedelta(milliseconds=outcome.duration_ms)
    if outcome.succeeded:
        status = DeliveryStatus.DELIVERED
        delivered_at = outcome.attempted_at
        endpoint.failing_since = None
    elif status != DeliveryStatus.PENDING or endpoint.deleted_at is not None:
        # The endpoint was deleted (or the grant revoked) while this attempt was in flight:
        # no more retries.
        status = DeliveryStatus.FAILED
    else:
        if endpoint.failing_since is None:
            endpoint.failing_since = outcome.attempted_at
        if outcome.status_code == 410:
            status = DeliveryStatus.FAILED
            if endpoint.disabled_at is None:
                _disable(session, endpoint, reason="gone", at=finished_at)
        else:
            due_again = next_attempt_at(
                finished_at,
                attempt_count - delivery.attempts_before_replay,
                policy.schedule,
                jitter=policy.jitter,
                retry_after_seconds=outcome.retry_after_seconds,
                max_retry_after_seconds=policy.max_retry_after_seconds,
            )
            if due_again is None:
                status = DeliveryStatus.FAILED
            if (
                endpoint.disabled_at is None
                and finished_at - endpoint.failing_since >= policy.disable_after
            ):
                _disable(session, endpoint, reason="failing", at=finished_at)
    if endpoint.disabled_at is not None and status == DeliveryStatus.PENDING:
        due_again = None  # paused with the rest until the endpoint is enabled
    return {
        "id": delivery.id,
        "status": status,
        "attempt_count": attempt_count,
        "last_attempt_at": outcome.attempted_at,
        "delivered_at": delivered_at,
        "next_attempt_at": due_again,
        "leased_until": None,
    }


@dataclass(frozen=True)
class Recorded:
    """What recording attempts changed: when each delivery is due again (None: not on a
    schedule), and how many pending deliveries a recovery brought forward."""

    due_again: dict[str, datetime | None]
    released: int


async def record_attempts(
    session: AsyncSession,
    attempts: Sequence[tuple[str, AttemptOutcome]],
    *,
    policy: RetryPolicy,
) -> Recorded:
    """Store the attempts (in the order they finished) and move each delivery on.

    A 410 Gone disables the endpoint; so does failing without a single success for
    ``policy.disable_after``. Either emits ``webhooks.endpoint.disabled``. Deliveries left
    pending on a disabled endpoint are paused until it is enabled again.

    The first success after failures (the endpoint has recovered) brings every pending
    delivery to the endpoint forward: its backlog is sent now, at the pace the endpoint
    answers, rather than each message on its own retry schedule.

    However many attempts there are, the deliveries are read in one statement and the
    attempts and new states written in one batched statement each: at the pace of a
    recovered endpoint's backlog, a unit of work per attempt costs more than the attempt.
    """
    deliveries = await repository.delivery_states(session, [d for d, _ in attempts])
    endpoints = await repository.endpoints_by_id(
        session, {delivery.endpoint_id for delivery in deliveries.values()}
    )
    was_disabled = {e.id for e in endpoints.values() if e.disabled_at is not None}
    recovered: set[uuid.UUID] = set()
    rows: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    for delivery_id, outcome in attempts:
        delivery = deliveries.get(delivery_id)
        if delivery is None:
            continue
        endpoint = endpoints[delivery.endpoint_id]
        failing = endpoint.failing_since is not None
        change = _settle(delivery, endpoint, outcome, policy, session)
        if outcome.succeeded and failing:
            recovered.add(endpoint.id)
        changes.append(change)
        rows.append(
            {
                "delivery_id": delivery_id,
                "attempt_number": change["attempt_count"],
                "attempted_at": outcome.attempted_at,
                "status_code": outcome.status_code,
                "error": outcome.error[:500] if outcome.error else None,
                "duration_ms": outcome.duration_ms,
            }
        )
    await repository.save_attempts(session, rows, changes)
    now = utc_now()
    released = 0
    for endpoint in endpoints.values():
        if endpoint.disabled_at is not None:
            if endpoint.id not in was_disabled:
                await repository.pause_pending(session, endpoint.id, now=now)
        elif endpoint.id in recovered:
            # After the batch's own deliveries are written, so those that failed just
            # before the recovery come forward with the rest of the backlog.
            released += await repository.release_pending(session, endpoint.id, now=now)
    return Recorded({change["id"]: change["next_attempt_at"] for change in changes}, released)


async def record_attempt(
    session: AsyncSession,
    delivery_id: str,
    outcome: AttemptOutcome,
    *,
    policy: RetryPolicy,
) -> datetime | None:
    """Store one attempt (see :func:`record_attempts`); when the delivery is due again."""
    recorded = await record_attempts(session, [(delivery_id, outcome)], policy=policy)
    return recorded.due_again.get(delivery_id)


@dataclass(frozen=True)
class Backlog:
    """One endpoint's deliveries still waiting to succeed."""

    endpoint_id: uuid.UUID
    pending: int
    oldest_queued_at: datetime


async def backlog(session: AsyncSession) -> list[Backlog]:
    """The pending deliveries of every endpoint that has some."""
    return [Backlog(*row) for row in await repository.pending_per_endpoint(session)]
