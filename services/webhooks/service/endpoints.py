"""Endpoint management: what partners and admins do through the HTTP API.

Registering, reading, changing, disabling and deleting endpoints, rotating their secrets,
reading the delivery log, replaying deliveries and sending test messages. Nothing here
commits: the HTTP request that opened the unit of work commits it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.webhooks import repository
from services.webhooks.destinations import DestinationPolicy
from services.webhooks.errors import (
    AsymmetricSigningOff,
    ClinicianAccessRevoked,
    DeliveryInProgress,
    DeliveryNotFound,
    EndpointNotFound,
    UnknownEventType,
)
from services.webhooks.messages import (
    new_message_id,
    new_secret,
    new_signing_key,
    signing_key_context,
    test_message,
)
from services.webhooks.models import (
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    EndpointAudience,
    SignatureScheme,
    WebhookEndpoint,
)
from services.webhooks.service.fan_out import still_granted
from services.webhooks.subscriptions import TEST_EVENT_TYPE, unknown_selectors
from shared.db import utc_now
from shared.errors import Forbidden, InvalidRequest
from shared.scopes import PartnerScope
from shared.secret_box import SecretBox
from shared.tokens import Principal


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


def _clean_schemes(schemes: Sequence[SignatureScheme]) -> list[str]:
    cleaned = [str(scheme) for scheme in dict.fromkeys(schemes)]
    if not cleaned:
        raise InvalidRequest("signature_schemes must name at least one of 'v1', 'v1a'")
    return cleaned


def _give_signing_key(endpoint: WebhookEndpoint, box: SecretBox) -> None:
    """A fresh Ed25519 key pair for the endpoint; the private half is stored sealed."""
    private, public = new_signing_key()
    endpoint.signing_key = box.seal(private, context=signing_key_context(endpoint.id, public))
    endpoint.public_key = public


async def register_endpoint(
    session: AsyncSession,
    principal: Principal,
    *,
    url: str,
    event_types: Sequence[str],
    description: str,
    destinations: DestinationPolicy,
    signature_schemes: Sequence[SignatureScheme] = (SignatureScheme.SYMMETRIC,),
    box: SecretBox,
) -> WebhookEndpoint:
    """Register ``url`` for ``event_types``, owned by the caller, with a fresh signing secret
    (and an Ed25519 key pair when "v1a" signatures are asked for)."""
    require_manager(principal)
    selectors = _clean_selectors(event_types)
    schemes = _clean_schemes(signature_schemes)
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
        signature_schemes=schemes,
    )
    if SignatureScheme.ASYMMETRIC in schemes:
        _give_signing_key(endpoint, box)
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
    signature_schemes: Sequence[SignatureScheme] | None = None,
    box: SecretBox,
) -> WebhookEndpoint:
    """Change an endpoint's URL, event types, description or signature schemes (the secret
    and key pair stay; offering "v1a" for the first time creates the key pair)."""
    endpoint = await endpoint_for(session, principal, endpoint_id)
    if signature_schemes is not None:
        endpoint.signature_schemes = _clean_schemes(signature_schemes)
        if SignatureScheme.ASYMMETRIC in endpoint.signature_schemes and endpoint.public_key is None:
            _give_signing_key(endpoint, box)
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
    """Disable an endpoint (nothing is sent; its messages, pending and new, are kept paused)
    or enable it again (everything kept is sent at once, oldest first)."""
    endpoint = await endpoint_for(session, principal, endpoint_id)
    now = utc_now()
    if enabled:
        if endpoint.disabled_at is not None:
            await repository.release_pending(session, endpoint.id, now=now)
        endpoint.disabled_at = None
        endpoint.disabled_reason = None
        endpoint.failing_since = None
    elif endpoint.disabled_at is None:
        endpoint.disabled_at = now
        endpoint.disabled_reason = "disabled by its owner"
        await repository.pause_pending(session, endpoint.id, now=now)
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


async def rotate_signing_key(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    *,
    overlap: timedelta,
    box: SecretBox,
) -> WebhookEndpoint:
    """Give the endpoint a new Ed25519 key pair ("v1a"); for ``overlap`` every attempt is
    signed with both the new and the previous private key."""
    endpoint = await endpoint_for(session, principal, endpoint_id)
    if SignatureScheme.ASYMMETRIC not in endpoint.signature_schemes:
        raise AsymmetricSigningOff(
            f"webhook endpoint {endpoint_id} is not offered v1a signatures; "
            "add 'v1a' to its signature_schemes first"
        )
    endpoint.previous_signing_key = endpoint.signing_key
    endpoint.previous_public_key = endpoint.public_key
    endpoint.previous_signing_key_expires_at = utc_now() + overlap
    _give_signing_key(endpoint, box)
    repository.add(session, endpoint)
    return endpoint


async def messages_since(
    session: AsyncSession,
    principal: Principal,
    endpoint_id: uuid.UUID,
    *,
    aggregate_id: str | None,
    after: int,
    since: datetime | None,
    limit: int,
) -> list[Delivery]:
    """What the endpoint was sent (or is still being sent), in order, for a partner to catch
    up from: one aggregate's messages after sequence number ``after``, or every message
    created since ``since``. Messages about a clinician who revoked the app's access are left
    out (they stay a gap)."""
    endpoint = await endpoint_for(session, principal, endpoint_id)
    if aggregate_id is None and after:
        raise InvalidRequest("after counts within one aggregate: give aggregate_id with it")
    messages = await repository.messages_of(
        session, endpoint.id, aggregate_id=aggregate_id, after=after, since=since, limit=limit
    )
    return [m for m in messages if await still_granted(session, endpoint, m)]


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
    if not await still_granted(session, endpoint, delivery):
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
        if await still_granted(session, endpoint, delivery)
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
