"""Use cases of the webhooks service: endpoint management, fan-out of events, delivery state.

Nothing here commits: the HTTP request, the consumed event batch or the dispatcher cycle that
opened the unit of work commits it.
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
from services.webhooks.destinations import DestinationPolicy
from services.webhooks.errors import (
    ClinicianAccessRevoked,
    DeliveryInProgress,
    DeliveryNotFound,
    EndpointNotFound,
    UnknownEventType,
)
from services.webhooks.messages import new_message_id, new_secret, test_message, webhook_message
from services.webhooks.models import (
    ClinicianGrant,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    EndpointAudience,
    SessionClinician,
    WebhookEndpoint,
)
from services.webhooks.subscriptions import TEST_EVENT_TYPE, subscribes_to, unknown_selectors
from shared.db import utc_now
from shared.errors import Forbidden, InvalidRequest
from shared.events.catalog import (
    AppointmentScheduled,
    Payload,
    UserDeactivated,
    WebhookEndpointDisabled,
)
from shared.events.outbox import add_event
from shared.scopes import PartnerScope
from shared.tokens import Principal

EVENT_SOURCE = "/rapport/webhooks"


def require_manager(principal: Principal) -> None:
    """Only admins and tokens granted ``webhooks:manage`` (partner apps) manage endpoints."""
    scope = PartnerScope.WEBHOOKS_MANAGE
    if principal.role != "admin" and scope not in principal.scopes:
        raise Forbidden(f"managing webhook endpoints requires role admin or scope {scope}")


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
        # Clinic admins receive the clinic's events; partner apps only their grantors'.
        audience=EndpointAudience.CLINIC if principal.role == "admin" else EndpointAudience.GRANTED,
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


async def delivery_record(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, delivery_id: str
) -> DeliveryRecord:
    """One message sent to an endpoint, with every attempt."""
    endpoint = await endpoint_for(session, principal, endpoint_id)
    delivery = await repository.delivery_of_endpoint(session, endpoint.id, delivery_id)
    if delivery is None:
        raise DeliveryNotFound(f"no delivery {delivery_id} to webhook endpoint {endpoint_id}")
    attempts = await repository.attempts_of(session, [delivery.id])
    return DeliveryRecord(delivery, attempts[delivery.id])


async def update_endpoint(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    *,
    url: str | None,
    event_types: Sequence[str] | None,
    description: str | None,
    destinations: DestinationPolicy,
) -> WebhookEndpoint:
    """Change an endpoint's URL, event types or description (the secret stays)."""
    endpoint = await endpoint_for(session, principal, endpoint_id)
    if url is not None:
        url = url.strip()
        await destinations.check(url)
        endpoint.url = url
    if event_types is not None:
        endpoint.event_types = _clean_selectors(event_types)
    if description is not None:
        endpoint.description = description
    repository.add(session, endpoint)
    return endpoint


async def set_endpoint_enabled(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, *, enabled: bool
) -> WebhookEndpoint:
    """Disable an endpoint (it receives nothing; pending deliveries wait) or enable it again."""
    endpoint = await endpoint_for(session, principal, endpoint_id)
    if enabled:
        endpoint.disabled_at = None
        endpoint.disabled_reason = None
        endpoint.failing_since = None
    elif endpoint.disabled_at is None:
        endpoint.disabled_at = utc_now()
        endpoint.disabled_reason = "disabled by its owner"
    repository.add(session, endpoint)
    return endpoint


async def rotate_secret(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    *,
    overlap: timedelta,
) -> WebhookEndpoint:
    """Give the endpoint a new secret; for ``overlap`` every attempt is signed with both."""
    endpoint = await endpoint_for(session, principal, endpoint_id)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = utc_now() + overlap
    endpoint.secret = new_secret()
    repository.add(session, endpoint)
    return endpoint


def _replay(delivery: Delivery, now: datetime) -> None:
    delivery.status = DeliveryStatus.PENDING
    delivery.next_attempt_at = now
    delivery.delivered_at = None
    delivery.attempts_before_replay = delivery.attempt_count


async def replay_delivery(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, delivery_id: str
) -> Delivery:
    """Send a message again, now, under the same webhook-id, with a fresh retry schedule."""
    endpoint = await endpoint_for(session, principal, endpoint_id)
    record = await delivery_record(session, principal, endpoint_id, delivery_id)
    delivery = record.delivery
    if delivery.status == DeliveryStatus.PENDING:
        raise DeliveryInProgress(f"delivery {delivery_id} is still being retried")
    if not await _still_granted(session, endpoint, delivery):
        raise ClinicianAccessRevoked(
            f"delivery {delivery_id} is about a clinician who revoked this app's access"
        )
    _replay(delivery, utc_now())
    repository.add(session, delivery)
    return delivery


async def replay_failed_since(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID, since: datetime
) -> list[Delivery]:
    """Send again every failed message created since ``since``."""
    endpoint = await endpoint_for(session, principal, endpoint_id)
    now = utc_now()
    deliveries = [
        delivery
        for delivery in await repository.failed_deliveries_since(session, endpoint.id, since)
        if await _still_granted(session, endpoint, delivery)
    ]
    for delivery in deliveries:
        _replay(delivery, now)
        repository.add(session, delivery)
    return deliveries


async def send_test_event(
    session: AsyncSession, principal: Principal, endpoint_id: uuid.UUID
) -> Delivery:
    """Queue a ``webhooks.endpoint.test`` message to the endpoint, logged like any other."""
    endpoint = await endpoint_for(session, principal, endpoint_id)
    now = utc_now()
    delivery = Delivery(
        id=new_message_id(),
        endpoint_id=endpoint.id,
        event_id=f"test_{uuid.uuid4().hex}",
        event_type=TEST_EVENT_TYPE,
        payload=test_message(endpoint.id, now),
        status=DeliveryStatus.PENDING,
        next_attempt_at=now,
    )
    repository.add(session, delivery)
    return delivery


async def clinician_of(session: AsyncSession, payload: Payload) -> uuid.UUID | None:
    """The clinician whose practice an event is about (what partner access is granted on)."""
    clinician_id = getattr(payload, "clinician_id", None)
    if isinstance(clinician_id, uuid.UUID):
        return clinician_id
    if isinstance(payload, UserDeactivated):
        return payload.user_id  # the clinician's own account (a client's has no grant)
    session_id = getattr(payload, "session_id", None)
    if isinstance(session_id, uuid.UUID):
        return await repository.session_clinician(session, session_id)
    return None


async def record_session_clinician(session: AsyncSession, payload: AppointmentScheduled) -> None:
    """Remember whose session it is, for the signaling events that name only the session."""
    if await repository.session_clinician(session, payload.session_id) is None:
        repository.add(
            session,
            SessionClinician(session_id=payload.session_id, clinician_id=payload.clinician_id),
        )


async def grant_access(
    session: AsyncSession, *, owner_id: str, clinician_id: uuid.UUID, at: datetime
) -> None:
    """A clinician granted a partner app access: its endpoints receive their events."""
    if await repository.grant(session, owner_id, clinician_id) is None:
        repository.add(
            session, ClinicianGrant(owner_id=owner_id, clinician_id=clinician_id, granted_at=at)
        )


async def revoke_access(session: AsyncSession, *, owner_id: str, clinician_id: uuid.UUID) -> None:
    """A clinician withdrew a partner app's access: no new deliveries of their events, and
    the pending ones to the app's endpoints stop (they stay in the log as failed)."""
    await repository.delete_grant(session, owner_id, clinician_id)
    await repository.fail_pending_deliveries_about(session, owner_id, clinician_id)


async def _still_granted(
    session: AsyncSession, endpoint: WebhookEndpoint, delivery: Delivery
) -> bool:
    """Whether the endpoint may still receive this message (a partner app's endpoint only
    while the clinician it is about grants the app access)."""
    if endpoint.audience == EndpointAudience.CLINIC or delivery.clinician_id is None:
        return True
    return endpoint.owner_id in await repository.owners_granted(session, delivery.clinician_id)


async def enqueue_deliveries(
    session: AsyncSession, payload: Payload, *, event_id: str, occurred_at: datetime
) -> list[Delivery]:
    """One pending delivery of this event per live endpoint subscribed to it and allowed it.

    Clinic endpoints get every event they subscribe to; partner apps' endpoints only events
    about clinicians who granted the app access. Safe to call twice for the same event:
    endpoints that already have it get no second one.
    """
    subscribed = [
        e
        for e in await repository.live_endpoints(session)
        if subscribes_to(e.event_types, payload.type)
    ]
    clinician_id: uuid.UUID | None = None
    if any(e.audience != EndpointAudience.CLINIC for e in subscribed):
        clinician_id = await clinician_of(session, payload)
        granted = (
            await repository.owners_granted(session, clinician_id)
            if clinician_id is not None
            else set()
        )
        subscribed = [
            e for e in subscribed if e.audience == EndpointAudience.CLINIC or e.owner_id in granted
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
            clinician_id=clinician_id if endpoint.audience != EndpointAudience.CLINIC else None,
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
