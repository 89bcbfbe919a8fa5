"""The API's use cases: preferences, the one-link unsubscribe, the failures admins see."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import repository, unsubscribe
from services.notifications.errors import InvalidUnsubscribeLink, UnknownClinic, UnknownLanguage
from services.notifications.letters import PHRASES
from services.notifications.models import Notification, Preference
from services.notifications.settings import Clinic
from shared.db import utc_now
from shared.tokens import Principal

LANGUAGES: tuple[str, ...] = tuple(PHRASES)


async def preferences_of(session: AsyncSession, user_id: uuid.UUID) -> Preference:
    """A person's preferences (the defaults until they change one)."""
    return await repository.preference(session, user_id) or Preference(user_id=user_id)


async def change_preferences(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    reminders: bool | None = None,
    reminder_lead_hours: list[float] | None = None,
    all_lead_times: bool = False,
    language: str | None = None,
) -> Preference:
    """Change what a person hears about; fields left None stay as they are."""
    preference = await preferences_of(session, user_id)
    if reminders is not None:
        preference.reminders = reminders
    if all_lead_times:
        preference.reminder_lead_hours = None
    elif reminder_lead_hours is not None:
        preference.reminder_lead_hours = sorted(set(reminder_lead_hours))
    if language is not None:
        if language not in LANGUAGES:
            raise UnknownLanguage(language, LANGUAGES)
        preference.language = language
    preference.updated_at = utc_now()
    repository.save(session, preference)
    return preference


async def unsubscribe_from_reminders(session: AsyncSession, key: bytes, token: str) -> uuid.UUID:
    """The one-link unsubscribe: no more reminders (security notices still go)."""
    try:
        user_id = unsubscribe.verify(key, token)
    except unsubscribe.InvalidUnsubscribeToken as exc:
        raise InvalidUnsubscribeLink() from exc
    await change_preferences(session, user_id, reminders=False)
    return user_id


async def failures(
    session: AsyncSession,
    principal: Principal,
    clinics: Sequence[Clinic],
    *,
    clinic: str | None,
    limit: int,
) -> list[Notification]:
    """Notifications that failed for good, newest first (admins): all, or one clinic's."""
    principal.require_role("admin")
    clinician_ids = None
    if clinic is not None:
        found = next((c for c in clinics if c.name == clinic), None)
        if found is None:
            raise UnknownClinic(clinic)
        clinician_ids = found.clinician_ids
    return await repository.failed(session, clinician_ids, limit)
