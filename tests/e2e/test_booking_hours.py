"""The browser tests' weekly hours work at any time of day, midnight UTC included.

No browser and no running system: :func:`hours_now` is fed chosen instants, and its hours go
through records' own slot rules to check that a client could book, at that instant, a
session open to join at once that lasts long enough for a test to finish in it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.records.access import BOOKING_GRACE
from services.records.scheduling.rules import WeeklyHours, free_slots, parse_clock
from tests.e2e.browser import HoursNow, daytime_zone, hours_now

# Longer than any browser test takes from setting the hours to the end of its call.
TEST_RUN = timedelta(minutes=30)
# The availability page's own rule for a time of day (web/public/js/availability.js: CLOCK).
CLOCK = re.compile(r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")

EVERY_QUARTER_HOUR_OF_A_DAY = [
    datetime(2026, 12, 6, tzinfo=UTC) + timedelta(minutes=m) for m in range(0, 24 * 60, 15)
]
NEAR_MIDNIGHT = [
    datetime(2026, 12, 6, 23, 50, tzinfo=UTC),
    datetime(2026, 12, 6, 23, 58, 30, tzinfo=UTC),
    datetime(2026, 12, 6, 23, 59, 59, tzinfo=UTC),
    datetime(2026, 12, 7, 0, 0, 0, tzinfo=UTC),
]


def _first_slot_offered(hours: HoursNow, now: datetime) -> tuple[datetime, datetime]:
    """The first free slot records offers at ``now`` from ``hours`` (its client's default)."""
    slots = free_slots(
        ZoneInfo(hours.time_zone),
        [WeeklyHours(hours.weekday, parse_clock(hours.start), parse_clock(hours.end))],
        [],
        [],
        window_start=now - BOOKING_GRACE,
        window_end=now + timedelta(days=14),
        earliest=now - BOOKING_GRACE,
        length=timedelta(minutes=hours.slot_minutes),
        step=timedelta(minutes=60),
    )
    assert slots, f"no slot at all at {now:%H:%M:%S} UTC"
    return slots[0].starts_at, slots[0].ends_at


@pytest.mark.parametrize("now", NEAR_MIDNIGHT + EVERY_QUARTER_HOUR_OF_A_DAY, ids=str)
def test_a_session_open_now_can_be_booked_at_any_time_of_day(now: datetime) -> None:
    hours = hours_now(now)
    assert CLOCK.match(hours.start) and CLOCK.match(hours.end), hours

    starts_at, ends_at = _first_slot_offered(hours, now)
    # Open to join as soon as it is booked, for the whole test...
    assert starts_at <= now < now + TEST_RUN <= ends_at, (hours, starts_at, ends_at)
    # ...and still offered to the client after the clinician took a while to set the hours.
    later = now + timedelta(minutes=5)
    assert _first_slot_offered(hours, later) == (starts_at, ends_at)


@pytest.mark.parametrize("now", NEAR_MIDNIGHT + EVERY_QUARTER_HOUR_OF_A_DAY, ids=str)
def test_the_daytime_zone_keeps_today_clear_of_midnight(now: datetime) -> None:
    local = now.astimezone(ZoneInfo(daytime_zone(now)))
    assert 12 <= local.hour < 13
