"""The events signaling consumes: appointments tell it who may join which session."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.signaling import service
from shared.events.catalog import AppointmentScheduled
from shared.events.envelope import Envelope
from shared.events.kafka import EventRouter


async def on_appointment_scheduled(
    session: AsyncSession, appointment: AppointmentScheduled, _: Envelope
) -> None:
    """Record the session's clinician, client and time slot for joins to check against."""
    await service.record_appointment(session, appointment)


def build_router() -> EventRouter:
    """The handlers of signaling's consumer group (``signaling``)."""
    router = EventRouter()
    router.on(AppointmentScheduled)(on_appointment_scheduled)
    return router
