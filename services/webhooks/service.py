"""Use cases of the webhooks service: endpoint management, fan-out of events, delivery state.

Nothing here commits: the HTTP request, the consumed event batch or the dispatcher cycle that
opened the unit of work commits it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.webhooks import repository
from services.webhooks.destinations import DestinationPolicy
from services.webhooks.errors import EndpointNotFound, UnknownEventType
from services.webhooks.messages import new_message_id, new_secret, webhook_message
from services.webhooks.models import Delivery, DeliveryAttempt, DeliveryStatus, WebhookEndpoint
from services.webhooks.subscriptions import subscribes_to, unknown_selectors
from shared.db import utc_now
from shared.errors import Forbidden, InvalidRequest
from shared.events.catalog import Payload
from shared.tokens import Principal

MANAGE_SCOPE = "webhooks:manage"


def require_manager(principal: Principal) -> None:
    """Only admins and tokens granted ``webhooks:manage`` (partner apps) manage endpoints."""
    if principal.role != "admin" and MANAGE_SCOPE not in principal.scopes:
        raise Forbidden(f"managing webhook endpoints requires role admin or scope {MANAGE_SCOPE}")


def _may_see(principal: Principal, endpoint: WebhookEndpoint) -> bool:
    return endpoint.owner_id == principal.subject or principal.role == "admin"


def _clean_selectors(event_types: Sequence[str]) -> list[str]:
    selectors = list(dict.fromkeys(s.strip() for s in event_types))
    if not selectors or any(not s for s in selectors):
        raise InvalidRequest("event_types must list at least one non-empty event type")
    unknown = unknown_selectors(selectors)
    if unknown:
        raise UnknownEventType(
            f"no event type in the catalog matches {', '.join(repr(s) for s in unknown)}",
            unknown=unknown,
        )
    return selectors


async def register_endpoint(
    session: AsyncSession,
    principal: Principal,
    *,
    url: str,
    event_types: Sequence[str],
    description: str,
    destinations: DestinationPolicy,
) -> WebhookEndpoint:
    """Register ``url`` for ``event_types``, owned by the caller, with a fresh signing secret."""
    require_manager(principal)
    selectors = _clean_selectors(event_types)
    url = url.strip()
    await destinations.check(url)
    endpoint = WebhookEndpoint(
        owner_id=principal.subject,
        url=url,
        event_types=selectors,
        description=description,
        secret=new_secret(),
    )
    repository.add(session, endpoint)
    return endpoint


async def endpoints_of(session: AsyncSession, principal: Principal) -> list[WebhookEndpoint]:
    """The caller's endpoints."""
    require_manager(principal)
    return await repository.endpoints_owned_by(session, principal.subject)


async def endpoint_for(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    """One endpoint the caller may see; someone else's looks exactly like a missing one."""
    require_manager(principal)
    endpoint = await repository.endpoint(session, endpoint_id)
    if endpoint is None or not _may_see(principal, endpoint):
        raise EndpointNotFound(f"no webhook endpoint {endpoint_id}")
    return endpoint


async def delete_endpoint(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> None:
    """Stop sending to an endpoint; its pending deliveries fail, its log is kept."""
    endpoint = await endpoint_for(session, principal, endpoint_id)
    endpoint.deleted_at = utc_now()
    repository.add(session, endpoint)
    await repository.fail_pending_deliveries(session, endpoint.id)


@dataclass(frozen=True)
class DeliveryRecord:
    """A delivery with every attempt made so far."""

    delivery: Delivery
    attempts: list[DeliveryAttempt]


async def delivery_log(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    *,
    status: DeliveryStatus | None = None,
    limit: int = 50,
) -> list[DeliveryRecord]:
    """An endpoint's most recent deliveries, newest first, each with its attempts."""
    endpoint = await endpoint_for(session, principal, endpoint_id)
    deliveries = await repository.deliveries_of(session, endpoint.id, status=status, limit=limit)
    attempts = await repository.attempts_of(session, (d.id for d in deliveries))
    return [DeliveryRecord(d, attempts[d.id]) for d in deliveries]


async def enqueue_deliveries(
    session: AsyncSession, payload: Payload, *, event_id: str, occurred_at: datetime
) -> list[Delivery]:
    """One pending delivery of this event per live endpoint subscribed to its type.

    Safe to call twice for the same event: endpoints that already have it get no second one.
    """
    subscribed = [
        e
        for e in await repository.live_endpoints(session)
        if subscribes_to(e.event_types, payload.type)
    ]
    if not subscribed:
        return []
    already = await repository.endpoints_with_delivery_of(session, event_id)
    message = webhook_message(payload, occurred_at)
    now = utc_now()
    deliveries = []
    for endpoint in subscribed:
        if endpoint.id in already:
            continue
        delivery = Delivery(
            id=new_message_id(),
            endpoint_id=endpoint.id,
            event_id=event_id,
            event_type=payload.type,
            payload=message,
            status=DeliveryStatus.PENDING,
            next_attempt_at=now,
        )
        repository.add(session, delivery)
        deliveries.append(delivery)
    return deliveries


@dataclass(frozen=True)
class DueDelivery:
    """Everything needed to make one attempt, detached from the unit of work that claimed it."""

    delivery_id: str
    endpoint_id: uuid.UUID
    url: str
    secret: str
    message: dict[str, Any]
    attempt_number: int


async def claim_due_deliveries(
    session: AsyncSession, *, now: datetime, limit: int, lease: timedelta
) -> list[DueDelivery]:
    """Take up to ``limit`` due deliveries for sending.

    Each is leased by moving ``next_attempt_at`` past the attempt's longest possible duration:
    if the process dies mid-send, the delivery becomes due again when the lease runs out
    (at-least-once; the stable webhook-id lets receivers drop the duplicate).
    """
    claimed = []
    for delivery, endpoint in await repository.lock_due_deliveries(session, now=now, limit=limit):
        delivery.next_attempt_at = now + lease
        repository.add(session, delivery)
        claimed.append(
            DueDelivery(
                delivery_id=delivery.id,
                endpoint_id=endpoint.id,
                url=endpoint.url,
                secret=endpoint.secret,
                message=delivery.payload,
                attempt_number=delivery.attempt_count + 1,
            )
        )
    return claimed


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt got: an HTTP status, or the error that kept it from getting one."""

    attempted_at: datetime
    duration_ms: int
    status_code: int | None = None
    error: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def next_attempt_at(
    finished_at: datetime, failed_attempts: int, retry_schedule: Sequence[float]
) -> datetime | None:
    """When to try again after ``failed_attempts`` failures; None once the schedule is spent."""
    if failed_attempts > len(retry_schedule):
        return None
    return finished_at + timedelta(seconds=retry_schedule[failed_attempts - 1])


async def record_attempt(
    session: AsyncSession,
    delivery_id: str,
    outcome: AttemptOutcome,
    *,
    retry_schedule: Sequence[float],
) -> datetime | None:
    """Store the attempt and move the delivery on; return when it is due again, if it is."""
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
    if outcome.succeeded:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = outcome.attempted_at
        delivery.next_attempt_at = None
    elif delivery.status != DeliveryStatus.PENDING or endpoint.deleted_at is not None:
        # The endpoint was deleted while this attempt was in flight: no more retries.
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
    else:
        finished_at = outcome.attempted_at + timedelta(milliseconds=outcome.duration_ms)
        delivery.next_attempt_at = next_attempt_at(
            finished_at, delivery.attempt_count, retry_schedule
        )
        if delivery.next_attempt_at is None:
            delivery.status = DeliveryStatus.FAILED
    repository.add(session, delivery)
    return delivery.next_attempt_at
