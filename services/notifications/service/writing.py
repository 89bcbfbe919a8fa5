"""Writing a due notification as a letter: the reader's address, name, language and time
zone (from identity and the preferences), the links, and an appointment's calendar invite."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from urllib.parse import quote, urlencode

from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import ics, repository, unsubscribe
from services.notifications.contacts import Contact, IdentityContacts
from services.notifications.errors import NoLongerDeliverable, PermanentFailure
from services.notifications.letters import (
    Attachment,
    Content,
    Letter,
    LetterWriter,
    Link,
    Phrasebook,
)
from services.notifications.models import Kind, Notification
from services.notifications.settings import NotificationsSettings

APPOINTMENT_KINDS = frozenset(
    {
        Kind.APPOINTMENT_BOOKED,
        Kind.APPOINTMENT_RESCHEDULED,
        Kind.APPOINTMENT_CANCELLED,
        Kind.APPOINTMENT_REMINDER,
    }
)


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

    def _letter(
        self,
        notification: Notification,
        content: Content,
        t: Phrasebook,
        sender: str,
        to: str,
        *,
        one_click: str | None = None,
    ) -> Letter:
        # The Message-ID is stable per notification: should an attempt be repeated after the
        # server took it (a crash before the sent mark), mail systems see the same message.
        domain = parseaddr(sender)[1].rpartition("@")[2] or "rapport.invalid"
        return self._writer.write(
            content,
            language=t.language,
            sender=sender,
            to=to,
            message_id=f"<{notification.id}@{domain}>",
            one_click_unsubscribe=one_click,
        )

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
        return self._letter(notification, content, t, sender, person.email, one_click=one_click)

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
        return self._letter(notification, content, t, sender, link.email)

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
        return self._letter(notification, content, t, sender, link.email)

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
        return self._letter(notification, content, t, sender, on_call)
