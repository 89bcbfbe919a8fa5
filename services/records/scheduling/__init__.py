"""Scheduling: a clinician's weekly hours and exceptions, the free slots they open,
appointments (booking, rescheduling, cancelling, no-shows) and their reminders.

``SlotRules`` is the service-wide slot length and step the app builds from its settings;
``send_due_reminders`` is the reminder timer's round; ``set_no_show`` is how a session
that closes without its client marks the appointment.
"""

from __future__ import annotations

from services.records.scheduling.service import SlotRules, send_due_reminders, set_no_show

__all__ = ["SlotRules", "send_due_reminders", "set_no_show"]
