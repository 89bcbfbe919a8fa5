"""Events the notifications service consumes: identity's and records' (ids and times only).

Each handler writes the notifications an event calls for into the sent log, in the consumer's
unit of work together with the inbox id; the dispatcher sends them after the commit.
"""

from __future__ import annotations

from typing import Final

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import service
from shared.events.catalog import (
    AppointmentCancelled,
    AppointmentReminderDue,
    AppointmentRescheduled,
    AppointmentScheduled,
    InvitationIssued,
    PasswordResetRequested,
    Payload,
    UserRegistered,
    payload_class,
)
from shared.events.envelope import Envelope
from shared.events.kafka import EventRouter

# Named rather than imported: the escalation event is owned by records and may reach the
# catalog after this service; until it does, this service simply does not subscribe to it.
SAFETY_FLAG_ESCALATED: Final = "rapport.records.safety.flag.escalated.v1"


async def on_appointment_changed(
    session: AsyncSession,
    event: AppointmentScheduled | AppointmentRescheduled | AppointmentCancelled,
    envelope: Envelope,
) -> None:
    await service.appointment_changed(session, event, envelope.id)


async def on_reminder_due(
    session: AsyncSession, event: AppointmentReminderDue, envelope: Envelope
) -> None:
    await service.reminder_due(session, event, envelope.id)


async def on_password_reset(
    session: AsyncSession, event: PasswordResetRequested, envelope: Envelope
) -> None:
    await service.password_reset_requested(session, event, envelope.id)


async def on_invitation(session: AsyncSession, event: InvitationIssued, envelope: Envelope) -> None:
    await service.invitation_issued(session, event, envelope.id)


async def on_safety_flag(session: AsyncSession, event: Payload, envelope: Envelope) -> None:
    await service.safety_flag_escalated(session, event, envelope.id)


def build_router(*, safety_flag_event: str = SAFETY_FLAG_ESCALATED) -> EventRouter:
    """The handlers of notifications' consumer group (``notifications``)."""
    router = EventRouter()
    router.on(UserRegistered, service.remember_person)
    router.on_envelope(AppointmentScheduled, on_appointment_changed)
    router.on_envelope(AppointmentRescheduled, on_appointment_changed)
    router.on_envelope(AppointmentCancelled, on_appointment_changed)
    router.on_envelope(AppointmentReminderDue, on_reminder_due)
    router.on_envelope(PasswordResetRequested, on_password_reset)
    router.on_envelope(InvitationIssued, on_invitation)
    escalated = payload_class(safety_flag_event)
    if escalated is not None:
        router.on_envelope(escalated, on_safety_flag)
    return router
