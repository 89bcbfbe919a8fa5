"""The events signaling consumes: appointments tell it who may join which session, and when.

(Identity's revocations are read by every process, not by this consumer group: see
:mod:`shared.events.revocations`.)"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.signaling import service
from shared.events.catalog import (
    AppointmentCancelled,
    AppointmentRescheduled,
    AppointmentScheduled,
)
from shared.events.envelope import Envelope
from shared.events.kafka import EventRouter


async def on_appointment_scheduled(
    session: AsyncSession, appointment: AppointmentScheduled, _: Envelope
) -> None:
    """Record the session's clinician, client and time slot for joins to check against."""
    await service.record_appointment(session, appointment)


async def on_appointment_rescheduled(
    session: AsyncSession, appointment: AppointmentRescheduled, _: Envelope
) -> None:
    """The session moved (or its invitations changed): joins check the new slot and roster."""
    await service.record_appointment(session, appointment)


async def on_appointment_cancelled(
    session: AsyncSession, appointment: AppointmentCancelled, _: Envelope
) -> None:
    """The session will not take place: joins to it are refused from now on."""
    await service.record_cancellation(session, appointment)


def build_router() -> EventRouter:
    """The handlers of signaling's consumer group (``signaling``)."""
    router = EventRouter()
    router.on(AppointmentScheduled)(on_appointment_scheduled)
    router.on(AppointmentRescheduled)(on_appointment_rescheduled)
    router.on(AppointmentCancelled)(on_appointment_cancelled)
    return router
