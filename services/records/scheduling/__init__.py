"""Scheduling: a clinician's weekly hours and exceptions, the free slots they open,
appointments (booking, rescheduling, cancelling, no-shows) and their reminders.

``SlotRules`` is the service-wide slot length and step the app builds from its settings;
``send_due_reminders`` is the reminder timer's round; ``note_client_checked_in`` and
``close_appointment`` are what a session's record tells its appointment.
"""

from __future__ import annotations

from services.records.scheduling.service import (
    SlotRules,
    close_appointment,
    note_client_checked_in,
    send_due_reminders,
)

__all__ = ["SlotRules", "close_appointment", "note_client_checked_in", "send_due_reminders"]
