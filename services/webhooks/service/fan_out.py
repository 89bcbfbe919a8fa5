"""Fan-out: each consumed event becomes one pending delivery per endpoint entitled to it.

Clinic endpoints get every event they subscribe to; a partner app's endpoints only events
about clinicians who granted the app access, so this module also keeps the grants and which
clinician each session belongs to. Nothing here commits: the consumed batch's unit of work
commits it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.webhooks import repository
from services.webhooks.messages import new_message_id, webhook_message
from services.webhooks.models import (
    ClinicianGrant,
    Delivery,
    DeliveryStatus,
    EndpointAudience,
    SessionClinician,
    WebhookEndpoint,
)
from services.webhooks.subscriptions import subscribes_to
from shared.db import utc_now
from shared.events.catalog import AppointmentScheduled, Payload, UserDeactivated


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


async def record_session_clinician(session: AsyncSession, event: AppointmentScheduled) -> None:
    """Remember whose session it is, for the signaling events that name only the session."""
    if await repository.session_clinician(session, event.session_id) is None:
        repository.add(
            session,
            SessionClinician(session_id=event.session_id, clinician_id=event.clinician_id),
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


async def still_granted(
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
    """One pending delivery of this event per endpoint subscribed to it and allowed it.

    Clinic endpoints get every event they subscribe to; partner apps' endpoints only events
    about clinicians who granted the app access. A disabled endpoint gets its deliveries too,
    paused (no ``next_attempt_at``) until it is enabled again, so nothing is missed while it is
    off. Each delivery takes the next number in the event's aggregate's sequence to that
    endpoint. Safe to call twice for the same event: endpoints that already have it get no
    second one (and no second number).

    An endpoint gets only events that occurred after it was registered: when the topic is
    read again from its start (a new consumer group, offsets reset by an operator), a
    partner's new endpoint is not flooded with history it never subscribed to.
    """
    subscribed = [
        e
        for e in await repository.live_endpoints(session)
        if subscribes_to(e.event_types, payload.type) and e.created_at <= occurred_at
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
    aggregate_id = payload.partition_key()
    now = utc_now()
    deliveries = []
    for endpoint in subscribed:
        if endpoint.id in already:
            continue
        sequence = await repository.next_sequence(session, endpoint.id, aggregate_id)
        delivery = Delivery(
            id=new_message_id(),
            endpoint_id=endpoint.id,
            event_id=event_id,
            event_type=payload.type,
            payload=webhook_message(
                payload, occurred_at, aggregate_id=aggregate_id, sequence=sequence
            ),
            clinician_id=clinician_id if endpoint.audience != EndpointAudience.CLINIC else None,
            aggregate_id=aggregate_id,
            sequence=sequence,
            status=DeliveryStatus.PENDING,
            next_attempt_at=now if endpoint.disabled_at is None else None,
            created_at=now,
        )
        repository.add(session, delivery)
        deliveries.append(delivery)
    return deliveries
