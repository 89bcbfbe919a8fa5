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


async def fan_out(session: AsyncSession, event: Payload, envelope: Envelope) -> None:
    """Queue one delivery of the event for each endpoint subscribed to it."""
    deliveries = await service.enqueue_deliveries(
        session, event, event_id=envelope.id, occurred_at=envelope.time
    )
    if deliveries:
        log.info(
            "webhook deliveries queued",
            extra={"event_id": envelope.id, "event_type": envelope.type, "count": len(deliveries)},
        )


async def remember_grant(session: AsyncSession, event: PartnerAccessGranted) -> None:
    """A clinician granted a partner app access: its endpoints now get that clinician's events."""
    await service.grant_access(
        session, owner_id=event.client_id, clinician_id=event.clinician_id, at=event.granted_at
    )


async def forget_grant(session: AsyncSession, event: PartnerAccessRevoked) -> None:
    """A clinician revoked a partner app's access: no more of their events to its endpoints."""
    await service.revoke_access(session, owner_id=event.client_id, clinician_id=event.clinician_id)


def build_router() -> EventRouter:
    """The handlers of webhooks' consumer group (``webhooks``)."""
    router = EventRouter()
    # Whose session it is, noted before the fan-out, for the signaling events that name only
    # the session (handlers of one event run in the order they are registered).
    router.on(AppointmentScheduled, service.record_session_clinician)
    for payload_type in PARTNER_EVENTS:
        router.on_envelope(payload_type, fan_out)
    router.on(PartnerAccessGranted, remember_grant)
    router.on(PartnerAccessRevoked, forget_grant)
    return router
