"""Events the webhooks service consumes: the partner-relevant ones, fanned out to endpoints."""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from services.webhooks import service
from services.webhooks.subscriptions import PARTNER_EVENTS
from shared.events.catalog import (
    AppointmentScheduled,
    PartnerAccessGranted,
    PartnerAccessRevoked,
    Payload,
)
from shared.events.envelope import Envelope
from shared.events.kafka import EventRouter

log = logging.getLogger(__name__)

CONSUMER_GROUP = "webhooks"


async def remember_session_and_fan_out(
    session: AsyncSession, payload: AppointmentScheduled, envelope: Envelope
) -> None:
    """Note whose session it is (for later signaling events), then fan the event out."""
    await service.record_session_clinician(session, payload)
    await fan_out(session, payload, envelope)


async def fan_out(session: AsyncSession, payload: Payload, envelope: Envelope) -> None:
    """Queue one delivery of the event for each endpoint subscribed to it."""
    deliveries = await service.enqueue_deliveries(
        session, payload, event_id=envelope.id, occurred_at=envelope.time
    )
    if deliveries:
        log.info(
            "webhook deliveries queued",
            extra={"event_id": envelope.id, "event_type": envelope.type, "count": len(deliveries)},
        )


async def remember_grant(session: AsyncSession, payload: PartnerAccessGranted, _: Envelope) -> None:
    """A clinician granted a partner app access: its endpoints now get that clinician's events."""
    await service.grant_access(
        session,
        owner_id=payload.client_id,
        clinician_id=payload.clinician_id,
        at=payload.granted_at,
    )


async def forget_grant(session: AsyncSession, payload: PartnerAccessRevoked, _: Envelope) -> None:
    """A clinician revoked a partner app's access: no more of their events to its endpoints."""
    await service.revoke_access(
        session, owner_id=payload.client_id, clinician_id=payload.clinician_id
    )


def event_router() -> EventRouter:
    """The router of consumed events (built in the app factory, nothing at import time)."""
    router = EventRouter()
    for payload_type in PARTNER_EVENTS:
        if payload_type is not AppointmentScheduled:
            router.on(payload_type)(fan_out)
    router.on(AppointmentScheduled)(remember_session_and_fan_out)
    router.on(PartnerAccessGranted)(remember_grant)
    router.on(PartnerAccessRevoked)(forget_grant)
    return router
