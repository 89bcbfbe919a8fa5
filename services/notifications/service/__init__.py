"""Use cases of the notifications service, one module per job.

- :mod:`.intake`: what each consumed event calls for (the consumer's);
- :mod:`.writing`: a due notification written as a letter (the dispatcher's);
- :mod:`.sending`: claiming, recording attempts, retrying (the dispatcher's);
- :mod:`.preferences`: preferences, unsubscribing, failures (the HTTP API's).

Entry points call them as ``service.<name>``. Nothing here commits.
"""

from __future__ import annotations

from services.notifications.service.intake import (
    appointment_changed,
    invitation_issued,
    password_reset_requested,
    remember_person,
    reminder_due,
    safety_flag_escalated,
    wants_reminder,
)
from services.notifications.service.preferences import (
    LANGUAGES,
    change_preferences,
    failures,
    preferences_of,
    unsubscribe_from_reminders,
)
from services.notifications.service.sending import (
    RetryPolicy,
    claim_due,
    next_due_at,
    record_failure,
    record_sent,
)
from services.notifications.service.writing import Notifier, PublicLinks

__all__ = [
    "LANGUAGES",
    "Notifier",
    "PublicLinks",
    "RetryPolicy",
    "appointment_changed",
    "change_preferences",
    "claim_due",
    "failures",
    "invitation_issued",
    "next_due_at",
    "password_reset_requested",
    "preferences_of",
    "record_failure",
    "record_sent",
    "reminder_due",
    "remember_person",
    "safety_flag_escalated",
    "unsubscribe_from_reminders",
    "wants_reminder",
]
