"""What each consumed event calls for: rows of the sent log, written in the consumer's unit of
work with the inbox id, and each appointment's calendar entry. Nothing here commits."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import ics, repository
from services.notifications.models import CalendarEntry, Kind, Notification, Preference
from shared.db import utc_now
from shared.events.catalog import (
    AppointmentCancelled,
    AppointmentReminderDue,
    AppointmentRescheduled,
    AppointmentScheduled,
    InvitationIssued,
    PasswordResetRequested,
    Payload,
    UserRegistered,
)

log = logging.getLogger(__name__)


def _person(user_id: uuid.UUID) -> str:
    return f"user:{user_id}"


async def remember_person(session: AsyncSession, event: UserRegistered) -> None:
    """A new account starts with the default preferences (every reminder, the default
    language), so a preference row exists before their first appointment."""
    if await repository.preference(session, event.user_id) is None:
        repository.save(session, Preference(user_id=event.user_id))


async def _queue(session: AsyncSession, notification: Notification) -> None:
    if await repository.add_notification(session, notification):
        log.info(
            "notification queued",
            extra={"notification_kind": notification.kind, "event_id": notification.event_id},
        )


async def _calendar_change(
    session: AsyncSession, appointment_id: uuid.UUID, *, first: bool
) -> CalendarEntry:
    """The appointment's calendar entry, its SEQUENCE raised unless this is its first version.

    Events of one appointment share a partition key and are applied in order, so the
    sequence goes up by one per change however often an event is redelivered.
    """
    entry = await repository.calendar_entry(session, appointment_id)
    if entry is None:
        entry = CalendarEntry(
            appointment_id=appointment_id, uid=ics.uid_for(appointment_id), sequence=0
        )
        if not first:
            # Booked before this service heard of it: any later version supersedes that one.
            entry.sequence = 1
    elif not first:
        entry.sequence += 1
    entry.updated_at = utc_now()
    repository.save(session, entry)
    return entry


def _appointment_data(
    event: AppointmentScheduled | AppointmentRescheduled | AppointmentCancelled,
    entry: CalendarEntry,
) -> dict[str, Any]:
    return {
        "appointment_id": str(event.appointment_id),
        "session_id": str(event.session_id),
        "starts_at": event.starts_at.isoformat(),
        "ends_at": event.ends_at.isoformat(),
        "uid": entry.uid,
        "sequence": entry.sequence,
    }


async def appointment_changed(
    session: AsyncSession,
    event: AppointmentScheduled | AppointmentRescheduled | AppointmentCancelled,
    event_id: str,
) -> None:
    """Tell the client their appointment was booked, moved or cancelled, with a calendar
    update that replaces the one they had."""
    kind = {
        AppointmentScheduled: Kind.APPOINTMENT_BOOKED,
        AppointmentRescheduled: Kind.APPOINTMENT_RESCHEDULED,
        AppointmentCancelled: Kind.APPOINTMENT_CANCELLED,
    }[type(event)]
    entry = await _calendar_change(
        session, event.appointment_id, first=kind is Kind.APPOINTMENT_BOOKED
    )
    await _queue(
        session,
        Notification(
            event_id=event_id,
            recipient=_person(event.client_id),
            user_id=event.client_id,
            clinician_id=event.clinician_id,
            kind=kind,
            subject_id=str(event.appointment_id),
            data=_appointment_data(event, entry),
        ),
    )


def wants_reminder(preference: Preference | None, lead_hours: float) -> bool:
    """Whether a person asked for reminders at this lead time (everything, by default)."""
    if preference is None:
        return True
    if not preference.reminders:
        return False
    chosen = preference.reminder_lead_hours
    return chosen is None or any(abs(hours - lead_hours) < 1 / 60 for hours in chosen)


async def reminder_due(session: AsyncSession, event: AppointmentReminderDue, event_id: str) -> None:
    """Remind the client of their appointment, if they want reminders at this lead time."""
    if not wants_reminder(await repository.preference(session, event.client_id), event.lead_hours):
        return
    await _queue(
        session,
        Notification(
            event_id=event_id,
            recipient=_person(event.client_id),
            user_id=event.client_id,
            clinician_id=event.clinician_id,
            kind=Kind.APPOINTMENT_REMINDER,
            subject_id=str(event.appointment_id),
            data={
                "appointment_id": str(event.appointment_id),
                "session_id": str(event.session_id),
                "starts_at": event.starts_at.isoformat(),
                "ends_at": event.ends_at.isoformat(),
                "lead_hours": event.lead_hours,
            },
        ),
    )


async def password_reset_requested(
    session: AsyncSession, event: PasswordResetRequested, event_id: str
) -> None:
    """Send the reset link (a security notice: whatever the person's preferences)."""
    await _queue(
        session,
        Notification(
            event_id=event_id,
            recipient=_person(event.user_id),
            user_id=event.user_id,
            kind=Kind.PASSWORD_RESET,
            subject_id=str(event.reset_id),
        ),
    )


async def invitation_issued(session: AsyncSession, event: InvitationIssued, event_id: str) -> None:
    """Email the invitation link to the invited address (which has no account yet)."""
    await _queue(
        session,
        Notification(
            event_id=event_id,
            recipient=f"invitation:{event.invitation_id}",
            clinician_id=event.clinician_id,
            kind=Kind.INVITATION,
            subject_id=str(event.invitation_id),
        ),
    )


def _uuid_field(event: Payload, *names: str) -> uuid.UUID | None:
    for name in names:
        value = getattr(event, name, None)
        if isinstance(value, uuid.UUID):
            return value
    return None


async def safety_flag_escalated(session: AsyncSession, event: Payload, event_id: str) -> None:
    """Alert the on-call recipient of the clinician's clinic.

    Read by field name, not by class, so small changes to the payload do not stop escalations:
    only the ids (the flag, the clinician) are used, never what the flag says.
    """
    clinician_id = _uuid_field(event, "clinician_id")
    flag_id = _uuid_field(event, "flag_id", "safety_flag_id", "id", "check_in_id", "session_id")
    await _queue(
        session,
        Notification(
            event_id=event_id,
            recipient=f"on-call:{clinician_id}",
            clinician_id=clinician_id,
            kind=Kind.SAFETY_ESCALATION,
            subject_id=str(flag_id or event_id),
        ),
    )
