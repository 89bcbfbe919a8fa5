"""Appointments as iCalendar (RFC 5545) invitations that calendars keep up to date.

Every message about one appointment carries the same UID; each change raises SEQUENCE, so a
calendar replaces the event on reschedule and removes it on cancel (METHOD:CANCEL, RFC 5546).
The event says when and where to join, nothing about what the session is for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr

from icalendar import Calendar, Event, vCalAddress, vText

PRODUCT_ID = "-//Rapport//Notifications//EN"


@dataclass(frozen=True)
class CalendarInvite:
    """What a calendar needs to know of one version of an appointment."""

    uid: str
    sequence: int
    starts_at: datetime
    ends_at: datetime
    summary: str
    join_url: str
    organizer: str
    attendee: str
    cancelled: bool = False
    stamp: datetime | None = None


def uid_for(appointment_id: object, domain: str = "rapport") -> str:
    """The UID an appointment keeps for its whole life."""
    return f"appointment-{appointment_id}@{domain}"


def to_ics(invite: CalendarInvite) -> bytes:
    """The invite as an ``text/calendar`` body."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if invite.cancelled else "REQUEST")
    event = Event()
    event.add("uid", invite.uid)
    event.add("sequence", invite.sequence)
    event.add("dtstamp", invite.stamp or invite.starts_at)
    event.add("dtstart", invite.starts_at)
    event.add("dtend", invite.ends_at)
    event.add("summary", invite.summary)
    event.add("location", vText(invite.join_url))
    event.add("url", invite.join_url)
    event.add("status", "CANCELLED" if invite.cancelled else "CONFIRMED")
    organizer = vCalAddress(f"mailto:{parseaddr(invite.organizer)[1]}")
    event["organizer"] = organizer
    attendee = vCalAddress(f"mailto:{invite.attendee}")
    attendee.params["role"] = vText("REQ-PARTICIPANT")
    event.add("attendee", attendee, encode=False)
    calendar.add_component(event)
    return calendar.to_ical()
