"""Free slots from weekly hours and exceptions, in the clinician's time zone (pure rules)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.records.scheduling.rules import (
    DayException,
    WeeklyHours,
    free_slots,
    open_minutes,
    parse_clock,
)

PARIS = ZoneInfo("Europe/Paris")
HOUR = timedelta(hours=1)
FIFTY = timedelta(minutes=50)
# Monday 9 to 12, Paris time.
MONDAY_MORNING = [WeeklyHours(weekday=1, start=9 * 60, end=12 * 60)]


def _slots(
    hours: list[WeeklyHours],
    exceptions: list[DayException] | None = None,
    busy: list[tuple[datetime, datetime]] | None = None,
    *,
    start: datetime,
    days: int = 1,
    earliest: datetime | None = None,
    length: timedelta = FIFTY,
    step: timedelta = HOUR,
) -> list[tuple[str, str]]:
    slots = free_slots(
        PARIS,
        hours,
        exceptions or [],
        busy or [],
        window_start=start,
        window_end=start + timedelta(days=days),
        earliest=earliest or start,
        length=length,
        step=step,
    )
    return [(s.starts_at.strftime("%m-%d %H:%M"), s.ends_at.strftime("%H:%M")) for s in slots]


def test_weekly_hours_are_local_time_across_the_daylight_saving_change():
    # 2030-03-31 is the last Sunday of March: Paris moves from UTC+1 to UTC+2.
    before = _slots(MONDAY_MORNING, start=datetime(2030, 3, 25, tzinfo=UTC))
    after = _slots(MONDAY_MORNING, start=datetime(2030, 4, 1, tzinfo=UTC))

    assert before == [("03-25 08:00", "08:50"), ("03-25 09:00", "09:50"), ("03-25 10:00", "10:50")]
    assert after == [("04-01 07:00", "07:50"), ("04-01 08:00", "08:50"), ("04-01 09:00", "09:50")]


def test_a_slot_must_fit_before_closing_and_steps_are_configurable():
    # 9:00-12:00 with 50-minute slots every 25 minutes: the last start that fits is 11:05.
    slots = _slots(
        MONDAY_MORNING, start=datetime(2030, 3, 25, tzinfo=UTC), step=timedelta(minutes=25)
    )

    assert [s for s, _ in slots] == [
        "03-25 08:00",
        "03-25 08:25",
        "03-25 08:50",
        "03-25 09:15",
        "03-25 09:40",
        "03-25 10:05",
    ]


def test_booked_time_and_times_before_the_earliest_are_not_offered():
    start = datetime(2030, 3, 25, tzinfo=UTC)
    busy = [(datetime(2030, 3, 25, 9, 30, tzinfo=UTC), datetime(2030, 3, 25, 9, 40, tzinfo=UTC))]

    slots = _slots(
        MONDAY_MORNING, busy=busy, start=start, earliest=datetime(2030, 3, 25, 8, 1, tzinfo=UTC)
    )

    # 08:00 began before the earliest; 09:00-09:50 shares ten minutes with the booking.
    assert slots == [("03-25 10:00", "10:50")]


def test_exceptions_take_days_or_hours_off_and_add_extra_hours():
    monday = date(2030, 3, 25)
    start = datetime(2030, 3, 25, tzinfo=UTC)
    whole_day = DayException("off", monday, monday)
    first_hour = DayException("off", monday, monday, 9 * 60, 10 * 60)
    extra = DayException("extra", monday, monday, 14 * 60, 15 * 60)
    week_off = DayException("off", date(2030, 3, 20), date(2030, 3, 27))

    assert _slots(MONDAY_MORNING, [whole_day], start=start) == []
    assert [s for s, _ in _slots(MONDAY_MORNING, [first_hour], start=start)] == [
        "03-25 09:00",
        "03-25 10:00",
    ]
    # Extra hours count even on a day off.
    assert _slots(MONDAY_MORNING, [week_off, extra], start=start) == [("03-25 13:00", "13:50")]
    # The next Monday is outside the week off.
    assert len(_slots(MONDAY_MORNING, [week_off], start=start, days=8)) == 3


def test_hours_that_meet_merge_and_run_past_midnight():
    hours = [
        WeeklyHours(weekday=1, start=22 * 60, end=24 * 60),
        WeeklyHours(weekday=2, start=0, end=60),
    ]
    assert open_minutes(date(2030, 3, 25), hours, []) == [(1320, 1440)]

    slots = _slots(hours, start=datetime(2030, 3, 25, tzinfo=UTC), days=2, step=FIFTY)

    # 22:00-01:00 Paris is one stretch: 50-minute slots run straight across midnight.
    assert [s for s, _ in slots] == ["03-25 21:00", "03-25 21:50", "03-25 22:40"]


@pytest.mark.parametrize("value", ["9:00", "25:00", "12:60", "24:01", "noon", "12:5"])
def test_clock_times_are_hh_mm(value: str):
    with pytest.raises(ValueError):
        parse_clock(value)


def test_clock_times_run_to_the_end_of_the_day():
    assert (parse_clock("00:00"), parse_clock("09:30"), parse_clock("24:00")) == (0, 570, 1440)


@pytest.mark.parametrize("seed", range(5))
def test_busy_time_is_left_out_exactly_as_a_pairwise_check_would(seed: int):
    rng = random.Random(seed)
    start = datetime(2030, 3, 25, tzinfo=UTC)
    every_day = [WeeklyHours(weekday=d, start=8 * 60, end=20 * 60) for d in range(1, 8)]
    busy = []
    for _ in range(40):
        begins = start + timedelta(minutes=rng.randrange(0, 7 * 24 * 60, 5))
        busy.append((begins, begins + timedelta(minutes=rng.choice([10, 30, 50, 90, 200]))))
    kwargs: dict[str, Any] = {
        "window_start": start,
        "window_end": start + timedelta(days=7),
        "earliest": start,
        "length": FIFTY,
        "step": timedelta(minutes=10),
    }

    everything = free_slots(PARIS, every_day, [], [], **kwargs)
    free = free_slots(PARIS, every_day, [], busy, **kwargs)

    expected = [
        s for s in everything if not any(b < s.ends_at and e > s.starts_at for b, e in busy)
    ]
    assert free == expected and 0 < len(free) < len(everything)
