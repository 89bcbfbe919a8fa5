"""The notifications service's use cases.

From events (inside the consumer's unit of work, with the inbox id): who is to be told what,
as rows of the sent log, and the calendar entry of each appointment. For the dispatcher:
writing a due notification as a letter, and recording how its attempt went. For the API:
preferences, unsubscribing, and the failures a clinic admin sees. Nothing here commits.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parseaddr
from typing import Any
from urllib.parse import quote, urlencode

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import ics, repository, unsubscribe
from services.notifications.contacts import Contact, IdentityContacts
from services.notifications.errors import (
    InvalidUnsubscribeLink,
    NoLongerDeliverable,
    PermanentFailure,
    UnknownLanguage,
)
from services.notifications.letters import (
    PHRASES,
    Attachment,
    Content,
    Letter,
    LetterWriter,
    Link,
    Phrasebook,
)
from services.notifications.models import (
    CalendarEntry,
    Kind,
    Notification,
    Preference,
    Status,
)
from services.notifications.settings import NotificationsSettings
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

LANGUAGES: tuple[str, ...] = tuple(PHRASES)
APPOINTMENT_KINDS = frozenset(
    {
        Kind.APPOINTMENT_BOOKED,
        Kind.APPOINTMENT_RESCHEDULED,
        Kind.APPOINTMENT_CANCELLED,
        Kind.APPOINTMENT_REMINDER,
    }
)


def _person(user_id: uuid.UUID) -> str:
    return f"user:{user_id}"


# From events ------------------------------------------------------------------------------


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


# Writing and sending ----------------------------------------------------------------------


@dataclass(frozen=True)
class PublicLinks:
    """Where the links in an email lead (the gateway's public address)."""

    base_url: str

    def join(self, session_id: str) -> str:
        return f"{self.base_url}/join?{urlencode({'session_id': session_id})}"

    def reset(self, token: str) -> str:
        # In the fragment: a fragment never reaches a server's access log.
        return f"{self.base_url}/reset-password#{urlencode({'token': token})}"

    def invitation(self, token: str, email: str) -> str:
        return f"{self.base_url}/accept-invitation#{urlencode({'token': token, 'email': email})}"

    def unsubscribe(self, token: str) -> str:
        return f"{self.base_url}/v1/notifications/unsubscribe?token={quote(token)}"

    def dashboard(self) -> str:
        return f"{self.base_url}/clinician"


class Notifier:
    """Writes due notifications as letters; built once in the composition root."""

    def __init__(
        self,
        settings: NotificationsSettings,
        contacts: IdentityContacts,
        *,
        unsubscribe_key: bytes,
        writer: LetterWriter | None = None,
    ) -> None:
        self._settings = settings
        self._contacts = contacts
        self._unsubscribe_key = unsubscribe_key
        self._writer = writer or LetterWriter()
        self.links = PublicLinks(settings.public_url.rstrip("/"))

    def sender_for(self, clinician_id: uuid.UUID | None) -> str:
        clinic = self._settings.clinic_of(clinician_id)
        return clinic.sender if clinic else self._settings.default_sender

    def _message_id(self, notification: Notification, sender: str) -> str:
        # Stable per notification: should an attempt be repeated after the server took it
        # (a crash before the sent mark), mail systems see the same message again.
        domain = parseaddr(sender)[1].rpartition("@")[2] or "rapport.invalid"
        return f"<{notification.id}@{domain}>"

    async def write(self, session: AsyncSession, notification: Notification) -> Letter:
        """The letter for ``notification``; raises :class:`NoLongerDeliverable`,
        :class:`PermanentFailure` or :class:`TransientFailure` (identity unreachable)."""
        kind = Kind(notification.kind)
        sender = self.sender_for(notification.clinician_id)
        if kind in APPOINTMENT_KINDS:
            return await self._appointment(session, notification, kind, sender)
        if kind is Kind.PASSWORD_RESET:
            return await self._password_reset(session, notification, sender)
        if kind is Kind.INVITATION:
            return await self._invitation(notification, sender)
        return await self._safety_escalation(notification, sender)

    async def _language(self, session: AsyncSession, user_id: uuid.UUID | None) -> str:
        preference = await repository.preference(session, user_id) if user_id else None
        if preference is not None and preference.language:
            return preference.language
        return self._settings.default_language

    async def _person(self, notification: Notification) -> Contact:
        assert notification.user_id is not None
        person = await self._contacts.contact(notification.user_id)
        if not person.active:
            raise NoLongerDeliverable("the account is deactivated")
        return person

    async def _clinician_name(self, notification: Notification, t: Phrasebook) -> str:
        if notification.clinician_id is not None:
            try:
                return (await self._contacts.contact(notification.clinician_id)).display_name
            except NoLongerDeliverable:
                pass  # a clinician who left: the email still says what it has to say
        return t("your_clinician")

    async def _appointment(
        self, session: AsyncSession, notification: Notification, kind: Kind, sender: str
    ) -> Letter:
        person = await self._person(notification)
        t = Phrasebook(await self._language(session, person.user_id))
        clinician_name = t("your_clinician")
        if notification.clinician_id is not None:
            try:
                clinician_name = (
                    await self._contacts.contact(notification.clinician_id)
                ).display_name
            except NoLongerDeliverable:
                pass  # a clinician who left: the email still says when the session is
        data = notification.data
        starts_at = datetime.fromisoformat(data["starts_at"])
        when = t.when(starts_at, person.time_zone)
        join = self.links.join(data["session_id"])
        paragraphs = [t(f"{kind.value}.body", clinician=clinician_name, when=when)]
        action: Link | None = None
        if kind is not Kind.APPOINTMENT_CANCELLED:
            paragraphs.append(t("join.hint"))
            action = Link(t("join.action"), join)
        attachments: tuple[Attachment, ...] = ()
        if "uid" in data:
            paragraphs.append(t("calendar.hint"))
            cancelled = kind is Kind.APPOINTMENT_CANCELLED
            invite = ics.CalendarInvite(
                uid=data["uid"],
                sequence=int(data["sequence"]),
                starts_at=starts_at,
                ends_at=datetime.fromisoformat(data["ends_at"]),
                summary=t("session"),
                join_url=join,
                organizer=sender,
                attendee=person.email,
                cancelled=cancelled,
                stamp=notification.created_at,
            )
            method = "CANCEL" if cancelled else "REQUEST"
            attachments = (
                Attachment("session.ics", "text/calendar", ics.to_ics(invite), method=method),
            )
        unsubscribe_link: Link | None = None
        one_click: str | None = None
        if kind is Kind.APPOINTMENT_REMINDER:
            one_click = self.links.unsubscribe(
                unsubscribe.issue(self._unsubscribe_key, person.user_id)
            )
            unsubscribe_link = Link(t("unsubscribe"), one_click)
        content = Content(
            subject=t(f"{kind.value}.subject", when=when),
            greeting=t("greeting", name=person.display_name),
            paragraphs=paragraphs,
            action=action,
            unsubscribe=unsubscribe_link,
            unsubscribe_hint=t("unsubscribe.hint") if unsubscribe_link else None,
            attachments=attachments,
        )
        return self._writer.write(
            content,
            language=t.language,
            sender=sender,
            to=person.email,
            message_id=self._message_id(notification, sender),
            one_click_unsubscribe=one_click,
        )

    async def _password_reset(
        self, session: AsyncSession, notification: Notification, sender: str
    ) -> Letter:
        link = await self._contacts.reset_link(uuid.UUID(notification.subject_id))
        person = await self._person(notification)
        t = Phrasebook(await self._language(session, notification.user_id))
        content = Content(
            subject=t("password_reset.subject"),
            greeting=t("greeting", name=link.display_name or person.display_name),
            paragraphs=[
                t("password_reset.body", expires=t.when(link.expires_at, person.time_zone))
            ],
            action=Link(t("password_reset.action"), self.links.reset(link.token)),
        )
        return self._writer.write(
            content,
            language=t.language,
            sender=sender,
            to=link.email,
            message_id=self._message_id(notification, sender),
        )

    async def _invitation(self, notification: Notification, sender: str) -> Letter:
        link = await self._contacts.invitation_link(uuid.UUID(notification.subject_id))
        t = Phrasebook(self._settings.default_language)
        inviter = link.inviter_display_name or t("your_clinician")
        content = Content(
            subject=t("invitation.subject", inviter=inviter),
            greeting=t("greeting_anonymous"),
            paragraphs=[
                t("invitation.body", inviter=inviter, expires=t.when(link.expires_at, "UTC"))
            ],
            action=Link(t("invitation.action"), self.links.invitation(link.token, link.email)),
        )
        return self._writer.write(
            content,
            language=t.language,
            sender=sender,
            to=link.email,
            message_id=self._message_id(notification, sender),
        )

    async def _safety_escalation(self, notification: Notification, sender: str) -> Letter:
        clinic = self._settings.clinic_of(notification.clinician_id)
        on_call = (clinic.on_call if clinic else None) or self._settings.default_on_call
        if not on_call:
            raise PermanentFailure("no on-call recipient is configured for this clinic")
        t = Phrasebook(self._settings.default_language)
        clinician_name = t("your_clinician")
        if notification.clinician_id is not None:
            try:
                clinician_name = (
                    await self._contacts.contact(notification.clinician_id)
                ).display_name
            except NoLongerDeliverable:
                pass
        content = Content(
            subject=t("safety_escalation.subject"),
            greeting=t("greeting_anonymous"),
            paragraphs=[t("safety_escalation.body", clinician=clinician_name)],
            action=Link(t("safety_escalation.action"), self.links.dashboard()),
        )
        return self._writer.write(
            content,
            language=t.language,
            sender=sender,
            to=on_call,
            message_id=self._message_id(notification, sender),
        )


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a failed notification again, and when to give up."""

    schedule: Sequence[float]
    jitter: float = 0.1

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        """After ``attempts`` failed attempts: when to try again, or None to give up."""
        if attempts > len(self.schedule):
            return None
        delay = self.schedule[attempts - 1]
        delay *= 1 + random.uniform(-self.jitter, self.jitter)  # noqa: S311 - spreading retries
        return now + timedelta(seconds=max(delay, 0.0))


async def claim_due(
    session: AsyncSession, now: datetime, *, limit: int, lease: timedelta
) -> list[Notification]:
    """Take up to ``limit`` due notifications: each counts an attempt and is hidden from other
    dispatchers for ``lease`` (should this process die mid-attempt, it is retried then)."""
    claimed = await repository.lock_due(session, now, limit)
    for notification in claimed:
        notification.attempts += 1
        notification.next_attempt_at = now + lease
        repository.save(session, notification)
    return claimed


async def next_due_at(session: AsyncSession) -> datetime | None:
    """When the earliest pending notification falls due (None: nothing is pending)."""
    return await repository.next_due_at(session)


async def record_sent(session: AsyncSession, notification_id: uuid.UUID) -> None:
    notification = await repository.notification(session, notification_id)
    if notification is None:
        return
    notification.status = Status.SENT
    notification.sent_at = notification.finished_at = utc_now()
    notification.last_error = None
    repository.save(session, notification)


async def record_failure(
    session: AsyncSession,
    notification_id: uuid.UUID,
    *,
    reason: str,
    permanent: bool,
    skipped: bool,
    retry: RetryPolicy,
) -> Notification | None:
    """Note a failed attempt: skip it, retry it on the schedule, or give up on it."""
    notification = await repository.notification(session, notification_id)
    if notification is None:
        return None
    now = utc_now()
    notification.last_error = reason[:500]
    next_attempt = None if permanent or skipped else retry.next_attempt(notification.attempts, now)
    if next_attempt is None:
        notification.status = Status.SKIPPED if skipped else Status.FAILED
        notification.finished_at = now
    else:
        notification.next_attempt_at = next_attempt
    repository.save(session, notification)
    return notification


# The API --------------------------------------------------------------------------------


async def preferences(session: AsyncSession, user_id: uuid.UUID) -> Preference:
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
    preference = await preferences(session, user_id)
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
    session: AsyncSession, clinician_ids: Sequence[uuid.UUID] | None, limit: int
) -> list[Notification]:
    """Notifications that failed for good (of these clinicians' clinic, when given)."""
    return await repository.failed(session, clinician_ids, limit)
