"""Notifications on the real thing: identity, records and notifications on their own PostgreSQL
databases, talking over a real Kafka broker, sending to a real SMTP server (aiosmtpd).

- An invitation is emailed, and its link signs the client up; booking, rescheduling and
  cancelling in records each email the client an .ics that the icalendar parser reads back,
  with one UID throughout and SEQUENCE 0, 1, 2; dates in the client's zone and language.
- A reset link from the email sets a new password, once.
- A reminder is sent once, though its event is delivered again after notifications restarts;
  the unsubscribe link stops the next reminders, not security notices.
- While the SMTP server is down nothing is lost; once it is back every email goes out once.
- A bounce (550) is recorded as failed and shown to an admin, without the address.
- No email carries a goal's, a note's or a measure's text.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import icalendar
import pytest
from fastapi import FastAPI
from sqlmodel import select

from devservers.postgres.launcher import DatabaseAdmin
from services.identity.app import Identity
from services.identity.app import create_app as create_identity
from services.identity.settings import IdentitySettings
from services.notifications.app import create_app as create_notifications
from services.notifications.models import Notification, Status
from services.notifications.settings import NotificationsSettings
from services.records.app import create_app as create_records
from services.records.settings import RecordsSettings
from shared.events.catalog import AppointmentReminderDue, AppointmentScheduled
from shared.events.envelope import KafkaRecord, encode
from shared.events.inbox import ProcessedEvent
from shared.events.kafka import EventPublisher
from shared.migrations import upgrade
from tests.fixtures.smtp import Received, SmtpServer
from tests.support.served_app import ServedApp

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "correct horse battery"
# Events cross a real broker and three consumers; this bounds a wait, it is not a timing claim.
WITHIN_SECONDS = 60.0
# Text that must never leave records in an email.
GOAL_STATEMENT = "Canary-goal: sleep through the night without panic"
GOAL_UPDATE_NOTE = "Canary-update: slept five nights, one attack"
PRIVATE_NOTE = "Canary-private: disclosed childhood trauma"
SHARED_NOTE = "Canary-shared: practise the breathing exercise"
MEASURE_WORDS = ("PHQ-9", "GAD-7", "diagnos", "Canary")


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def _until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WITHIN_SECONDS
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.1)


async def _mail_to(smtp: SmtpServer, address: str, count: int) -> list[Received]:
    async def arrived() -> bool:
        return len(smtp.to(address)) >= count

    await _until(arrived, f"{count} email(s) reached {address}")
    return smtp.to(address)


def _parts(message: EmailMessage) -> tuple[str, str, list[EmailMessage]]:
    """The plain-text body, the HTML body and the attachments."""
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None, "both a plain-text and an HTML part"
    return text.get_content(), html.get_content(), list(message.iter_attachments())


def _calendar(message: EmailMessage) -> icalendar.Calendar:
    [attachment] = [
        a for a in message.iter_attachments() if a.get_content_type() == "text/calendar"
    ]
    return icalendar.Calendar.from_ical(attachment.get_payload(decode=True))


def _event(calendar: icalendar.Calendar) -> Any:
    [event] = calendar.walk("VEVENT")
    return event


def _link(message: EmailMessage, path: str) -> str:
    text, _, _ = _parts(message)
    found = re.search(rf"(http\S*{re.escape(path)}\S*)", text)
    assert found, f"no {path} link in:\n{text}"
    return found.group(1)


def _fragment(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).fragment).items()}


def _assert_minimum_necessary(messages: list[Received]) -> None:
    for received in messages:
        raw = received.message
        text, html, attachments = _parts(raw)
        everything = "\n".join(
            [str(raw["Subject"]), text, html]
            + [a.get_payload(decode=True).decode("utf-8", "replace") for a in attachments]
        )
        for forbidden in (GOAL_STATEMENT, GOAL_UPDATE_NOTE, PRIVATE_NOTE, SHARED_NOTE):
            assert forbidden not in everything
        for word in MEASURE_WORDS:
            assert word.lower() not in everything.lower(), f"{word!r} in an email"


@dataclass
class System:
    identity_app: FastAPI
    identity_url: str
    identity: httpx.AsyncClient
    records: httpx.AsyncClient
    notifications_app: FastAPI
    notifications: httpx.AsyncClient
    smtp: SmtpServer
    publisher: EventPublisher
    notifications_settings: NotificationsSettings
    stack: AsyncExitStack

    async def restart_notifications(self) -> None:
        """Stop the notifications app (its consumer commits and leaves the group) and start a
        new one on the same database, as a redeploy would."""
        await self.stack.aclose()
        self.stack = AsyncExitStack()
        await self._start_notifications()

    async def _start_notifications(self) -> None:
        app = create_notifications(self.notifications_settings)
        await self.stack.enter_async_context(app.router.lifespan_context(app))
        self.notifications_app = app
        self.notifications = await self.stack.enter_async_context(
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://notifications"
            )
        )

    async def stop(self) -> None:
        await self.stack.aclose()

    async def notifications_rows(self) -> list[Notification]:
        async with self.notifications_app.state.database.unit_of_work() as session:
            return list((await session.exec(select(Notification))).all())

    async def publish(self, record: KafkaRecord) -> None:
        await self.publisher.publish(record.topic, record.key, record.value, record.headers)


@pytest.fixture(scope="module")
async def system(
    postgres_server: DatabaseAdmin, kafka_bootstrap: str, smtp_server: SmtpServer
) -> AsyncIterator[System]:
    names = {s: f"t_notify_{s}_{uuid.uuid4().hex[:12]}" for s in ("identity", "records", "mail")}
    for name in names.values():
        postgres_server.create_database(name)
    urls = {s: postgres_server.async_url(n) for s, n in names.items()}
    await asyncio.to_thread(upgrade, ROOT / "services/identity/migrations", urls["identity"])
    await asyncio.to_thread(upgrade, ROOT / "services/records/migrations", urls["records"])
    await asyncio.to_thread(upgrade, ROOT / "services/notifications/migrations", urls["mail"])
    identity_app = create_identity(
        IdentitySettings(
            environment="test", database_url=urls["identity"], kafka_bootstrap=kafka_bootstrap
        )
    )
    served_identity = await ServedApp(identity_app).start()
    jwks = f"{served_identity.url}/.well-known/jwks.json"
    records_app = create_records(
        RecordsSettings(
            environment="test",
            database_url=urls["records"],
            kafka_bootstrap=kafka_bootstrap,
            jwks_url=jwks,
            reminder_hours=[],
        )
    )
    settings = NotificationsSettings(
        environment="test",
        database_url=urls["mail"],
        kafka_bootstrap=kafka_bootstrap,
        jwks_url=jwks,
        identity_url=served_identity.url,
        public_url="https://rapport.example",
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_security="none",
        default_sender="Northside Clinic <care@northside.example>",
        # An outage of a few seconds stays within the schedule; nothing waits for long.
        retry_schedule_seconds=[0.2] * 5 + [0.5] * 40,
        dispatcher_poll_seconds=0.2,
    )
    publisher = EventPublisher(kafka_bootstrap, client_id=f"records-stand-in-{uuid.uuid4().hex}")
    outer = AsyncExitStack()
    try:
        await outer.enter_async_context(records_app.router.lifespan_context(records_app))
        records = await outer.enter_async_context(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=records_app), base_url="http://r")
        )
        identity = await outer.enter_async_context(httpx.AsyncClient(base_url=served_identity.url))
        system = System(
            identity_app=identity_app,
            identity_url=served_identity.url,
            identity=identity,
            records=records,
            notifications_app=None,  # type: ignore[arg-type]
            notifications=None,  # type: ignore[arg-type]
            smtp=smtp_server,
            publisher=publisher,
            notifications_settings=settings,
            stack=AsyncExitStack(),
        )
        await system._start_notifications()
        try:
            yield system
        finally:
            await system.stop()
            # Every email any test here made: none carries clinical text.
            _assert_minimum_necessary(smtp_server.received)
    finally:
        await outer.aclose()
        await publisher.close()
        await served_identity.stop()
        for name in names.values():
            postgres_server.drop_database(name)


async def _login(identity: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await identity.post("/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def _register(
    identity: httpx.AsyncClient, email: str, role: str = "client", **extra: Any
) -> uuid.UUID:
    response = await identity.post(
        "/v1/auth/register",
        json={
            "email": email,
            "password": PASSWORD,
            "display_name": email.split("@")[0].title(),
            "role": role,
            **extra,
        },
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


async def _admin_token(system: System) -> str:
    service: Identity = system.identity_app.state.identity
    email = f"ops-{uuid.uuid4().hex[:8]}@example.com"
    async with system.identity_app.state.database.unit_of_work() as session:
        await service.accounts.create_user(
            session, email=email, password=PASSWORD, display_name="Ops", role="admin"
        )
    return await _login(system.identity, email)


async def test_invitation_then_booking_rescheduling_and_cancelling_reach_the_client(
    system: System,
) -> None:
    identity, records, smtp = system.identity, system.records, system.smtp
    suffix = uuid.uuid4().hex[:8]
    clinician_email, client_email = f"dr-{suffix}@example.com", f"ada-{suffix}@example.com"
    clinician_id = await _register(identity, clinician_email, role="clinician")
    clinician = await _login(identity, clinician_email)

    invited = await identity.post(
        "/v1/invitations", json={"email": client_email}, headers=_bearer(clinician)
    )
    assert invited.status_code == 201, invited.text
    [invitation] = await _mail_to(smtp, client_email, 1)
    link = _link(invitation.message, "/accept-invitation")
    assert link.startswith("https://rapport.example/accept-invitation#")
    assert _fragment(link) == {"token": invited.json()["invitation"], "email": client_email}
    assert invitation.message["From"] == "Northside Clinic <care@northside.example>"

    # The emailed link signs the client up (in Madrid's time zone).
    client_id = await _register(
        identity, client_email, invitation=_fragment(link)["token"], time_zone="Europe/Madrid"
    )
    client = await _login(identity, client_email)

    async def notifications_know_the_client() -> bool:
        response = await system.notifications.patch(
            "/v1/notifications/preferences", json={"language": "es"}, headers=_bearer(client)
        )
        return response.status_code == 200

    await _until(notifications_know_the_client, "the client set Spanish as their language")

    starts = (datetime.now(UTC) + timedelta(days=3)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )

    async def booked() -> httpx.Response | None:
        response = await records.post(
            "/v1/appointments",
            json={
                "client_id": str(client_id),
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(minutes=50)).isoformat(),
            },
            headers=_bearer(clinician),
        )
        return response if response.status_code == 201 else None

    appointment: dict[str, Any] = {}

    async def book() -> bool:
        response = await booked()
        if response is not None:
            appointment.update(response.json())
        return response is not None

    # Records hears of the care relationship over Kafka; booking works once it has.
    await _until(book, "records booked the appointment")

    # Clinical text records keeps and notifications must never send.
    goal = await records.post(
        "/v1/goals",
        json={"client_id": str(client_id), "statement": GOAL_STATEMENT},
        headers=_bearer(clinician),
    )
    assert goal.status_code == 201, goal.text
    for visibility, text in (("private", PRIVATE_NOTE), ("shared", SHARED_NOTE)):
        note = await records.post(
            "/v1/notes",
            json={"client_id": str(client_id), "visibility": visibility, "text": text},
            headers=_bearer(clinician),
        )
        assert note.status_code == 201, note.text

    [_, booking] = await _mail_to(smtp, client_email, 2)
    text, html, _ = _parts(booking.message)
    calendar = _calendar(booking.message)
    event = _event(calendar)
    uid = str(event["UID"])
    assert str(calendar["METHOD"]) == "REQUEST"
    assert int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTART") == starts
    assert event.decoded("DTEND") == starts + timedelta(minutes=50)
    join = f"https://rapport.example/join?session_id={appointment['session_id']}"
    assert join in text and str(event["URL"]) == join
    # Spanish, and 9:00 UTC is 10:00 or 11:00 in Madrid.
    local = starts.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Madrid"))
    assert "Su sesión" in str(booking.message["Subject"])
    assert f"{local.hour}:00" in text and "Europe/Madrid" in text
    assert "<p>" in html

    moved = starts + timedelta(days=1)
    rescheduled = await records.post(
        f"/v1/appointments/{appointment['id']}/reschedule",
        json={
            "starts_at": moved.isoformat(),
            "ends_at": (moved + timedelta(minutes=50)).isoformat(),
        },
        headers=_bearer(clinician),
    )
    assert rescheduled.status_code == 200, rescheduled.text
    [*_, moved_mail] = await _mail_to(smtp, client_email, 3)
    moved_event = _event(_calendar(moved_mail.message))
    assert str(moved_event["UID"]) == uid
    assert int(moved_event["SEQUENCE"]) == 1
    assert moved_event.decoded("DTSTART") == moved

    cancelled = await records.post(
        f"/v1/appointments/{appointment['id']}/cancel", json={}, headers=_bearer(clinician)
    )
    assert cancelled.status_code == 200, cancelled.text
    [*_, cancel_mail] = await _mail_to(smtp, client_email, 4)
    cancel_calendar = _calendar(cancel_mail.message)
    cancel_event = _event(cancel_calendar)
    assert str(cancel_calendar["METHOD"]) == "CANCEL"
    assert (str(cancel_event["UID"]), int(cancel_event["SEQUENCE"])) == (uid, 2)
    assert str(cancel_event["STATUS"]) == "CANCELLED"

    messages = smtp.to(client_email)
    assert len(messages) == 4
    assert len({m.message["Message-ID"] for m in messages}) == 4
    _assert_minimum_necessary(messages)
    assert str(clinician_id) not in "".join(_parts(m.message)[0] for m in messages)


async def test_a_reset_link_from_the_email_sets_a_new_password_once(system: System) -> None:
    identity, smtp = system.identity, system.smtp
    email = f"reset-{uuid.uuid4().hex[:8]}@example.com"
    await _register(identity, email)
    requested = await identity.post("/v1/auth/password-reset", json={"email": email})
    assert requested.status_code == 202
    [mail] = await _mail_to(smtp, email, 1)
    link = _link(mail.message, "/reset-password")
    token = _fragment(link)["token"]
    new_password = "a brand new passphrase"
    confirmed = await identity.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "new_password": new_password}
    )
    assert confirmed.status_code == 204, confirmed.text
    await _login(identity, email, new_password)
    again = await identity.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "new_password": "another one!!"}
    )
    assert again.status_code == 422
    _assert_minimum_necessary([mail])


def _reminder(client_id: uuid.UUID, clinician_id: uuid.UUID) -> AppointmentReminderDue:
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=24)
    return AppointmentReminderDue(
        appointment_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        clinician_id=clinician_id,
        client_id=client_id,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=50),
        lead_hours=24.0,
        at=datetime.now(UTC),
    )


async def test_a_reminder_is_sent_once_across_a_restart_and_unsubscribing_stops_the_next(
    system: System,
) -> None:
    identity, smtp = system.identity, system.smtp
    suffix = uuid.uuid4().hex[:8]
    clinician_id = await _register(identity, f"dr-r-{suffix}@example.com", role="clinician")
    email = f"remind-{suffix}@example.com"
    client_id = await _register(identity, email)

    first = _reminder(client_id, clinician_id)
    record = encode(first, source="/rapport/records")
    await system.publish(record)
    [reminder] = await _mail_to(smtp, email, 1)
    assert "Reminder" in str(reminder.message["Subject"])

    await system.restart_notifications()
    # The same event again (Kafka redelivers after a crash), then another reminder.
    await system.publish(record)
    second = _reminder(client_id, clinician_id)
    await system.publish(encode(second, source="/rapport/records"))
    await _mail_to(smtp, email, 2)

    async def both_recorded_sent() -> bool:
        rows = [n for n in await system.notifications_rows() if n.user_id == client_id]
        return len(rows) >= 2 and all(n.status == Status.SENT for n in rows)

    await _until(both_recorded_sent, "both reminders are recorded as sent")
    rows = [n for n in await system.notifications_rows() if n.user_id == client_id]
    assert sorted(n.subject_id for n in rows) == sorted(
        [str(first.appointment_id), str(second.appointment_id)]
    )
    assert len(smtp.to(email)) == 2

    # One link stops reminders: the next one is not sent, a security notice still is.
    unsubscribe = reminder.message["List-Unsubscribe"].strip("<>")
    assert reminder.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe == _link(reminder.message, "/v1/notifications/unsubscribe")
    query = urlsplit(unsubscribe).query
    page = await system.notifications.get(f"/v1/notifications/unsubscribe?{query}")
    assert page.status_code == 200 and "<form" in page.text
    done = await system.notifications.post(f"/v1/notifications/unsubscribe?{query}")
    assert done.status_code == 200, done.text
    forged = await system.notifications.post("/v1/notifications/unsubscribe?token=" + "A" * 64)
    assert forged.status_code == 422
    third = _reminder(client_id, clinician_id)
    third_id = str(uuid.uuid4())
    await system.publish(encode(third, source="/rapport/records", event_id=third_id))

    async def third_applied() -> bool:
        async with system.notifications_app.state.database.unit_of_work() as session:
            found = await session.exec(
                select(ProcessedEvent).where(ProcessedEvent.event_id == third_id)
            )
            return found.first() is not None

    await _until(third_applied, "notifications applied the third reminder's event")
    rows = await system.notifications_rows()
    assert not [n for n in rows if n.subject_id == str(third.appointment_id)]
    await identity.post("/v1/auth/password-reset", json={"email": email})
    [*_, last] = await _mail_to(smtp, email, 3)
    assert "password" in str(last.message["Subject"]).lower()
    assert len(smtp.to(email)) == 3


async def test_an_smtp_outage_loses_nothing_and_sends_each_email_once(system: System) -> None:
    identity, smtp = system.identity, system.smtp
    suffix = uuid.uuid4().hex[:8]
    clinician_id = await _register(identity, f"dr-o-{suffix}@example.com", role="clinician")
    email = f"outage-{suffix}@example.com"
    client_id = await _register(identity, email)
    bookings = []
    smtp.down()
    try:
        for day in range(5):
            starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=day + 1)
            booking = AppointmentScheduled(
                appointment_id=uuid.uuid4(),
                session_id=uuid.uuid4(),
                clinician_id=clinician_id,
                client_id=client_id,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=50),
            )
            bookings.append(booking)
            await system.publish(encode(booking, source="/rapport/records"))

        async def every_one_failed_once() -> bool:
            rows = [n for n in await system.notifications_rows() if n.user_id == client_id]
            return len(rows) == 5 and all(
                n.attempts >= 1 and n.status == Status.PENDING and n.last_error for n in rows
            )

        await _until(every_one_failed_once, "each email failed an attempt while SMTP is down")
    finally:
        smtp.up()

    async def all_sent() -> bool:
        rows = [n for n in await system.notifications_rows() if n.user_id == client_id]
        return len(rows) == 5 and all(n.status == Status.SENT for n in rows)

    await _until(all_sent, "every email was sent after the outage")
    messages = smtp.to(email)
    assert len(messages) == 5
    uids = sorted(str(_event(_calendar(m.message))["UID"]) for m in messages)
    assert uids == sorted(f"appointment-{b.appointment_id}@rapport" for b in bookings)
    rows = [n for n in await system.notifications_rows() if n.user_id == client_id]
    assert all("SMTP unreachable" in (n.last_error or "SMTP unreachable") for n in rows)


async def test_a_bounce_is_recorded_and_shown_to_an_admin_without_the_address(
    system: System,
) -> None:
    identity, smtp = system.identity, system.smtp
    email = f"bounce-{uuid.uuid4().hex[:8]}@example.com"
    user_id = await _register(identity, email)
    smtp.refuse(email)
    await identity.post("/v1/auth/password-reset", json={"email": email})

    async def failed() -> bool:
        rows = [n for n in await system.notifications_rows() if n.user_id == user_id]
        return bool(rows) and rows[0].status == Status.FAILED

    await _until(failed, "the bounced reset is recorded as failed")
    admin = await _admin_token(system)
    response = await system.notifications.get("/v1/notifications/failures", headers=_bearer(admin))
    assert response.status_code == 200, response.text
    [failure] = [f for f in response.json() if f["user_id"] == str(user_id)]
    assert failure["kind"] == "password_reset"
    assert failure["attempts"] == 1
    assert "550" in failure["last_error"]
    assert email not in response.text
    client = await _login(identity, email)
    refused = await system.notifications.get("/v1/notifications/failures", headers=_bearer(client))
    assert refused.status_code == 403
    assert smtp.to(email) == []
