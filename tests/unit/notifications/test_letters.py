"""Letters: escaped HTML with a plain-text twin, the reader's language and zone; calendar
invites that parse back; unsubscribe tokens; who wants which reminder."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import icalendar
import pytest

from services.notifications import ics, unsubscribe
from services.notifications.app import UnsafeConfiguration, create_app
from services.notifications.letters import Content, LetterWriter, Link, Phrasebook
from services.notifications.models import Preference
from services.notifications.service import wants_reminder
from services.notifications.settings import NotificationsSettings

STARTS = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def _letter(name: str, language: str = "en") -> tuple[str, str, str]:
    t = Phrasebook(language)
    when = t.when(STARTS, "America/New_York")
    letter = LetterWriter().write(
        Content(
            subject=t("appointment_booked.subject", when=when),
            greeting=t("greeting", name=name),
            paragraphs=[t("appointment_booked.body", clinician="Dr <b>Lee</b>", when=when)],
            action=Link(t("join.action"), "https://rapport.example/join?session_id=1&x=2"),
        ),
        language=t.language,
        sender="Clinic <care@clinic.example>",
        to="ada@example.com",
        message_id="<1@clinic.example>",
    )
    return letter.subject, letter.text, letter.html


def test_names_are_escaped_in_html_and_left_alone_in_plain_text() -> None:
    _, text, html = _letter("<script>alert(1)</script>")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Dr &lt;b&gt;Lee&lt;/b&gt;" in html
    assert "<script>alert(1)</script>" in text and "Dr <b>Lee</b>" in text
    assert 'href="https://rapport.example/join?session_id=1&amp;x=2"' in html
    assert "https://rapport.example/join?session_id=1&x=2" in text


def test_dates_are_in_the_readers_zone_and_language() -> None:
    subject, text, _ = _letter("Ada")
    assert "Monday, December 7, 2026" in subject
    assert "4:00" in text and "America/New_York" in text  # 09:00 UTC is 04:00 in New York
    subject, _, _ = _letter("Ada", "es")
    assert subject.startswith("Su sesión del lunes, 7 de diciembre de 2026")
    assert Phrasebook("xx").language == "en"


def test_an_unknown_zone_falls_back_to_utc() -> None:
    assert Phrasebook("en").when(STARTS, "Mars/Olympus").endswith("(UTC)")


def test_a_calendar_invite_parses_back_with_its_uid_and_sequence() -> None:
    appointment = uuid.uuid4()
    invite = ics.CalendarInvite(
        uid=ics.uid_for(appointment),
        sequence=2,
        starts_at=STARTS,
        ends_at=STARTS + timedelta(minutes=50),
        summary="Rapport session",
        join_url="https://rapport.example/join?session_id=1",
        organizer="Clinic <care@clinic.example>",
        attendee="ada@example.com",
        cancelled=True,
    )
    calendar = icalendar.Calendar.from_ical(ics.to_ics(invite))
    [event] = calendar.walk("VEVENT")
    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(event["UID"]) == f"appointment-{appointment}@rapport"
    assert int(event["SEQUENCE"]) == 2
    assert event.decoded("DTSTART") == STARTS
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["ORGANIZER"]) == "mailto:care@clinic.example"


def test_unsubscribe_tokens_name_one_person_and_do_not_forge() -> None:
    user = uuid.uuid4()
    token = unsubscribe.issue(b"k" * 32, user)
    assert unsubscribe.verify(b"k" * 32, token) == user
    for forged in (unsubscribe.issue(b"x" * 32, user), token[:-2] + "AA", "nonsense", ""):
        with pytest.raises(unsubscribe.InvalidUnsubscribeToken):
            unsubscribe.verify(b"k" * 32, forged)


@pytest.mark.parametrize(
    ("reminders", "lead_hours", "due", "wanted"),
    [
        (True, None, 24.0, True),
        (False, None, 24.0, False),
        (True, [1.0], 24.0, False),
        (True, [1.0, 24.0], 24.0, True),
        (True, [], 1.0, False),
    ],
)
def test_who_wants_which_reminder(
    reminders: bool, lead_hours: list[float] | None, due: float, wanted: bool
) -> None:
    preference = Preference(
        user_id=uuid.uuid4(), reminders=reminders, reminder_lead_hours=lead_hours
    )
    assert wants_reminder(preference, due) is wanted
    assert wants_reminder(None, due) is True


@pytest.mark.parametrize(
    "changes",
    [
        {"smtp_security": "none", "unsubscribe_key": "u" * 32},
        {"smtp_security": "starttls"},
    ],
)
def test_production_refuses_clear_text_smtp_and_a_public_unsubscribe_key(
    changes: dict[str, str],
) -> None:
    with pytest.raises(UnsafeConfiguration):
        create_app(NotificationsSettings(environment="production", **changes))
