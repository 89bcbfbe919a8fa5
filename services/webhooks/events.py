"""Events the webhooks service consumes: the partner-relevant ones, fanned out to endpoints."""

from __future__ import annotations

import logging

from sqlmodel.ext.asyncio.session import AsyncSession

from services.webhooks import service
from shared.events.catalog import AppointmentScheduled, GoalUpdated, Payload, SessionCompleted
from shared.events.envelope import Envelope
from shared.events.kafka import EventRouter

log = logging.getLogger(__name__)

CONSUMER_GROUP = "webhooks"

# What partners may subscribe to and receive today; all three carry ids, times and statuses only.
PARTNER_EVENTS: tuple[type[Payload], ...] = (AppointmentScheduled, SessionCompleted, GoalUpdated)


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


def event_router() -> EventRouter:
    """The router of consumed events (built in the app factory, nothing at import time)."""
    router = EventRouter()
    for payload_type in PARTNER_EVENTS:
        router.on(payload_type)(fan_out)
    return router
