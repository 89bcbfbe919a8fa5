"""The notifications API's request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.notifications.models import Notification, Preference


class PreferencesView(BaseModel):
    """What a person hears about. Security notices (password resets) always go."""

    reminders: bool = Field(description="appointment reminders at all")
    reminder_lead_hours: list[float] | None = Field(
        description="only at these lead times (hours before the start); null: at every one"
    )
    language: str | None = Field(description="the language emails are written in")
    languages: list[str] = Field(description="the languages emails can be written in")

    @classmethod
    def of(cls, preference: Preference, languages: tuple[str, ...]) -> PreferencesView:
        return cls(
            reminders=preference.reminders,
            reminder_lead_hours=preference.reminder_lead_hours,
            language=preference.language,
            languages=list(languages),
        )


class PreferencesChange(BaseModel):
    """Fields to change; those left out stay as they are."""

    model_config = ConfigDict(extra="forbid")

    reminders: bool | None = None
    reminder_lead_hours: list[float] | None = Field(
        None,
        max_length=10,
        description="lead times in hours (each 0-720); null resets to every lead time",
    )
    language: str | None = Field(None, max_length=10)

    def lead_hours_valid(self) -> bool:
        return all(0 <= hours <= 720 for hours in self.reminder_lead_hours or [])


class Unsubscribed(BaseModel):
    reminders: bool = Field(False, description="reminders are off; security notices still go")


class FailureView(BaseModel):
    """A notification that failed for good. Ids, kinds and the server's answer code: no
    addresses, no message text."""

    id: uuid.UUID
    kind: str
    channel: str
    recipient_kind: str = Field(description="user, invitation or on-call")
    user_id: uuid.UUID | None
    clinician_id: uuid.UUID | None
    subject_id: str = Field(description="the appointment, reset request, invitation or flag")
    attempts: int
    last_error: str | None
    created_at: datetime
    failed_at: datetime | None

    @classmethod
    def of(cls, notification: Notification) -> FailureView:
        return cls(
            id=notification.id,
            kind=notification.kind,
            channel=notification.channel,
            recipient_kind=notification.recipient.split(":", 1)[0],
            user_id=notification.user_id,
            clinician_id=notification.clinician_id,
            subject_id=notification.subject_id,
            attempts=notification.attempts,
            last_error=notification.last_error,
            created_at=notification.created_at,
            failed_at=notification.finished_at,
        )
