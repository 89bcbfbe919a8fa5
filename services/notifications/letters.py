"""Writing a notification as an email: subject, a plain-text and an HTML part, attachments.

Templates are Jinja2 with autoescaping on for HTML (names come from people and are escaped).
Dates are written in the reader's language and time zone with Babel.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date, format_time
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"

# What each notification says, in each language it is written in. Placeholders are filled
# with values the HTML template escapes (names come from people). Nothing here names a goal,
# a note, a measure or a diagnosis: an appointment email says when and how to join, a security
# email what to do with the link.
PHRASES: Final[dict[str, dict[str, str]]] = {
    "en": {
        "greeting": "Hello {name},",
        "greeting_anonymous": "Hello,",
        "appointment_booked.subject": "Your session on {when}",
        "appointment_booked.body": "Your session with {clinician} is booked for {when}.",
        "appointment_rescheduled.subject": "Your session has moved to {when}",
        "appointment_rescheduled.body": "Your session with {clinician} has moved to {when}.",
        "appointment_cancelled.subject": "Your session on {when} is cancelled",
        "appointment_cancelled.body": "Your session with {clinician} on {when} is cancelled.",
        "appointment_reminder.subject": "Reminder: your session on {when}",
        "appointment_reminder.body": "A reminder of your session with {clinician} on {when}.",
        "join.hint": "Open the link a few minutes before the start to check your camera and "
        "microphone.",
        "join.action": "Join the session",
        "calendar.hint": "The attached calendar file keeps your calendar up to date.",
        "invitation.subject": "{inviter} invited you to Rapport",
        "invitation.body": "{inviter} invited you to join Rapport for your online sessions. "
        "The invitation works once, until {expires}.",
        "invitation.action": "Accept the invitation",
        "password_reset.subject": "Reset your Rapport password",
        "password_reset.body": "Someone asked to reset the password of your Rapport account. "
        "The link works once, until {expires}. If it was not you, ignore this email: your "
        "password stays as it is.",
        "password_reset.action": "Choose a new password",
        "safety_escalation.subject": "A safety flag needs attention",
        "safety_escalation.body": "A safety flag raised for a client of {clinician} has not "
        "been acknowledged in time. Open the dashboard to see it.",
        "safety_escalation.action": "Open the dashboard",
        "session": "Rapport session",
        "your_clinician": "your clinician",
        "unsubscribe": "Stop appointment reminders",
        "unsubscribe.hint": "Security emails such as password resets are always sent.",
    },
    "es": {
        "greeting": "Hola, {name}:",
        "greeting_anonymous": "Hola:",
        "appointment_booked.subject": "Su sesión del {when}",
        "appointment_booked.body": "Su sesión con {clinician} está reservada para el {when}.",
        "appointment_rescheduled.subject": "Su sesión ha cambiado al {when}",
        "appointment_rescheduled.body": "Su sesión con {clinician} ha cambiado al {when}.",
        "appointment_cancelled.subject": "Su sesión del {when} está cancelada",
        "appointment_cancelled.body": "Su sesión con {clinician} del {when} está cancelada.",
        "appointment_reminder.subject": "Recordatorio: su sesión del {when}",
        "appointment_reminder.body": "Le recordamos su sesión con {clinician} el {when}.",
        "join.hint": "Abra el enlace unos minutos antes para comprobar la cámara y el micrófono.",
        "join.action": "Entrar en la sesión",
        "calendar.hint": "El archivo de calendario adjunto mantiene su calendario al día.",
        "invitation.subject": "{inviter} le ha invitado a Rapport",
        "invitation.body": "{inviter} le ha invitado a Rapport para sus sesiones en línea. "
        "La invitación sirve una vez, hasta el {expires}.",
        "invitation.action": "Aceptar la invitación",
        "password_reset.subject": "Restablezca su contraseña de Rapport",
        "password_reset.body": "Alguien ha pedido restablecer la contraseña de su cuenta de "
        "Rapport. El enlace sirve una vez, hasta el {expires}. Si no fue usted, ignore este "
        "mensaje: su contraseña no cambia.",
        "password_reset.action": "Elegir una contraseña nueva",
        "safety_escalation.subject": "Una alerta de seguridad necesita atención",
        "safety_escalation.body": "Una alerta de seguridad de un cliente de {clinician} no se "
        "ha atendido a tiempo. Abra el panel para verla.",
        "safety_escalation.action": "Abrir el panel",
        "session": "Sesión de Rapport",
        "your_clinician": "su terapeuta",
        "unsubscribe": "Dejar de recibir recordatorios",
        "unsubscribe.hint": "Los mensajes de seguridad, como el cambio de contraseña, se envían "
        "siempre.",
    },
}


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    content: bytes
    # For text/calendar: METHOD, so mail clients offer "add to calendar" / "remove".
    method: str | None = None


@dataclass(frozen=True)
class Letter:
    """One message ready for a channel."""

    sender: str
    to: str
    subject: str
    text: str
    html: str
    message_id: str
    attachments: tuple[Attachment, ...] = ()
    # RFC 8058 one-click unsubscribe (reminders only).
    unsubscribe_url: str | None = None

    def to_email(self) -> EmailMessage:
        """The MIME message: text and HTML alternatives, then the attachments."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Message-ID"] = self.message_id
        message["Date"] = email.utils.formatdate(usegmt=True)
        # Security notices and reminders are not bulk mail, but auto-replies are still pointless.
        message["Auto-Submitted"] = "auto-generated"
        if self.unsubscribe_url:
            message["List-Unsubscribe"] = f"<{self.unsubscribe_url}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        for attachment in self.attachments:
            maintype, subtype = attachment.content_type.split("/", 1)
            params = {"method": attachment.method} if attachment.method else {}
            message.add_attachment(
                attachment.content,
                maintype=maintype,
                subtype=subtype,
                filename=attachment.filename,
                params=params,
            )
        return message


@dataclass(frozen=True)
class Content:
    """What a message says, before it is laid out in the templates."""

    subject: str
    greeting: str
    paragraphs: list[str]
    action: Link | None = None
    unsubscribe: Link | None = None
    unsubscribe_hint: str | None = None
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)


class Phrasebook:
    """The phrases of one language (falling back to English for a missing one)."""

    def __init__(self, language: str) -> None:
        self.language = language if language in PHRASES else "en"
        self._phrases = PHRASES[self.language]

    def __call__(self, key: str, **values: str) -> str:
        template = self._phrases.get(key) or PHRASES["en"][key]
        return template.format(**values)

    def when(self, moment: datetime, time_zone: str) -> str:
        """A moment as the reader reads it: their date, time and zone."""
        try:
            zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            zone, time_zone = ZoneInfo("UTC"), "UTC"
        local = moment.astimezone(zone)
        day = format_date(local.date(), format="full", locale=self.language)
        clock = format_time(local.timetz(), format="short", locale=self.language)
        return f"{day}, {clock} ({time_zone})"


class LetterWriter:
    """Lays content out in the HTML and plain-text templates."""

    def __init__(self, templates: Path = TEMPLATES) -> None:
        self._html = Environment(
            loader=FileSystemLoader(templates),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        # The plain-text part is not HTML: escaping it would show "&amp;" to the reader.
        self._text = Environment(
            loader=FileSystemLoader(templates),
            autoescape=False,  # noqa: S701 - text/plain, never rendered as markup
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def write(
        self,
        content: Content,
        *,
        language: str,
        sender: str,
        to: str,
        message_id: str,
        one_click_unsubscribe: str | None = None,
    ) -> Letter:
        context = {
            "language": language,
            "subject": content.subject,
            "greeting": content.greeting,
            "paragraphs": content.paragraphs,
            "action": content.action,
            "unsubscribe": (
                {
                    "url": content.unsubscribe.url,
                    "label": content.unsubscribe.label,
                    "hint": content.unsubscribe_hint or "",
                }
                if content.unsubscribe
                else None
            ),
            "sender_name": email.utils.parseaddr(sender)[0] or sender,
        }
        return Letter(
            sender=sender,
            to=to,
            subject=content.subject,
            text=self._text.get_template("message.txt").render(context),
            html=self._html.get_template("message.html").render(context),
            message_id=message_id,
            attachments=content.attachments,
            unsubscribe_url=one_click_unsubscribe,
        )
