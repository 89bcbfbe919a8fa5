"""Channels: how a written letter reaches a person. Email (SMTP) is the one Rapport ships.

Every channel has one method, :meth:`Channel.deliver`, and reports failure in one of two ways:
:class:`TransientFailure` (try again later: the server is down, busy, or answered 4xx) or
:class:`PermanentFailure` (the server refused for good, 5xx: the address does not exist).
The dispatcher retries the first on its schedule and records the second at once.
"""

from __future__ import annotations

import ssl
from email.utils import parseaddr
from typing import Literal, Protocol

import aiosmtplib

from services.notifications.errors import PermanentFailure, TransientFailure
from services.notifications.letters import Letter


class Channel(Protocol):
    """Delivers letters; raises :class:`TransientFailure` or :class:`PermanentFailure`."""

    name: str

    async def deliver(self, letter: Letter) -> None: ...


class EmailChannel:
    """Email through an SMTP server (aiosmtplib), over STARTTLS, implicit TLS, or (local sinks
    only) in the clear."""

    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: Literal["starttls", "tls", "none"],
        username: str | None = None,
        password: str | None = None,
        ca_file: str | None = None,
        timeout_seconds: float = 30.0,
    ) -> None:
        self._host = host
        self._port = port
        self._security = security
        self._username = username
        self._password = password
        self._timeout = timeout_seconds
        self._tls_context = ssl.create_default_context(cafile=ca_file) if ca_file else None

    async def deliver(self, letter: Letter) -> None:
        message = letter.to_email()
        try:
            await aiosmtplib.send(
                message,
                sender=parseaddr(letter.sender)[1],
                recipients=[letter.to],
                hostname=self._host,
                port=self._port,
                username=self._username,
                password=self._password,
                use_tls=self._security == "tls",
                start_tls=self._security == "starttls",
                tls_context=self._tls_context,
                timeout=self._timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = sorted({refusal.code for refusal in exc.recipients})
            failure = PermanentFailure if all(c >= 500 for c in codes) else TransientFailure
            raise failure(f"SMTP recipient refused ({', '.join(map(str, codes))})") from exc
        except aiosmtplib.SMTPResponseException as exc:
            # 5xx: the server will refuse this message again; 4xx: try later.
            failure = PermanentFailure if exc.code >= 500 else TransientFailure
            raise failure(f"SMTP {exc.code} ({type(exc).__name__})") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TransientFailure(f"SMTP unreachable ({type(exc).__name__})") from exc


class SmsProvider(Protocol):
    """What an SMS gateway (Twilio, MessageBird, an operator's own) is wrapped in.

    ``send_text`` raises :class:`TransientFailure` or :class:`PermanentFailure` like a channel.
    Rapport ships none: identity holds no phone numbers yet, so nothing would be sent.
    """

    async def send_text(self, to: str, text: str) -> None: ...


class SmsChannel:
    """Text messages through an :class:`SmsProvider`: the letter's plain-text part, without
    attachments. Not wired by default (docs/notifications.md says how to plug one in)."""

    name = "sms"

    def __init__(self, provider: SmsProvider) -> None:
        self._provider = provider

    async def deliver(self, letter: Letter) -> None:
        await self._provider.send_text(letter.to, f"{letter.subject}\n{letter.text}")
