"""A clinician's bookable slots: weekly hours and exceptions, in the clinician's time zone.

Pure rules, no I/O. Hours are minutes of the local day (0..1440), so "09:00"-"17:00" is
540-1020 whatever the date; they become UTC instants day by day, which keeps a 9 o'clock
start at 9 o'clock local time across daylight-saving changes.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 24 * 60
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

ExceptionKind = Literal["off", "extra"]
Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class WeeklyHours:
    """Open from ``start`` to ``end`` (minutes of the local day) every ``weekday`` (ISO:
    Monday = 1)."""

    weekday: int
    start: int
    end: int


@dataclass(frozen=True)
class DayException:
    """Local days ``first_day``..``last_day`` (inclusive) off, or with extra hours.

    ``off`` without minutes is the whole day; with minutes, only those hours. ``extra``
    always has minutes; extra hours count even on a day off.
    """

    kind: ExceptionKind
    first_day: date
    last_day: date
    start: int | None = None
    end: int | None = None

    def covers(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day


@dataclass(frozen=True)
class Slot:
    starts_at: datetime
    ends_at: datetime


def parse_clock(value: str) -> int:
    """``"HH:MM"`` as minutes of the day; ``"24:00"`` is the end of the day."""
    hours, _, minutes = value.partition(":")
    total = int(hours) * 60 + int(minutes)
    if not (len(hours) == 2 and len(minutes) == 2 and 0 <= int(minutes) < 60):
        raise ValueError(f"{value!r} is not a time of day as HH:MM")
    if not 0 <= total <= MINUTES_PER_DAY:
        raise ValueError(f"{value!r} is not a time of day as HH:MM (00:00 to 24:00)")
    return total


def format_clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _subtract(ranges: list[tuple[int, int]], start: int, end: int) -> list[tuple[int, int]]:
    left = []
    for a, b in ranges:
        if b <= start or a >= end:
            left.append((a, b))
            continue
        if a < start:
            left.append((a, start))
        if b > end:
            left.append((end, b))
    return left


def open_minutes(
    day: date, hours: Iterable[WeeklyHours], exceptions: Iterable[DayException]
) -> list[tuple[int, int]]:
    """The open ranges of one local day: its weekly hours, less time off, plus extra hours."""
    ranges = [(h.start, h.end) for h in hours if h.weekday == day.isoweekday()]
    todays = [e for e in exceptions if e.covers(day)]
    for exception in todays:
        if exception.kind != "off":
            continue
        if exception.start is None or exception.end is None:
            ranges = []
        else:
            ranges = _subtract(ranges, exception.start, exception.end)
    for exception in todays:
        if exception.kind == "extra" and exception.start is not None and exception.end is not None:
            ranges.append((exception.start, exception.end))
    return sorted(ranges)


def _local(day: date, minute: int, zone: ZoneInfo) -> datetime:
    # Wall-clock arithmetic: the offset is the one in force at that local time.
    return (datetime.combine(day, time(0), tzinfo=zone) + timedelta(minutes=minute)).astimezone(UTC)


def open_intervals(
    zone: ZoneInfo,
    hours: Sequence[WeeklyHours],
    exceptions: Sequence[DayException],
    window_start: datetime,
    window_end: datetime,
) -> list[Interval]:
    """The clinician's open time touching the window, in UTC, merged and in order."""
    first = window_start.astimezone(zone).date() - timedelta(days=1)
    last = window_end.astimezone(zone).date() + timedelta(days=1)
    intervals: list[Interval] = []
    day = first
    while day <= last:
        for start, end in open_minutes(day, hours, exceptions):
            intervals.append((_local(day, start, zone), _local(day, end, zone)))
        day += timedelta(days=1)
    return _merged(intervals)


def free_slots(
    zone: ZoneInfo,
    hours: Sequence[WeeklyHours],
    exceptions: Sequence[DayException],
    busy: Iterable[Interval],
    *,
    window_start: datetime,
    window_end: datetime,
    earliest: datetime,
    length: timedelta,
    step: timedelta,
) -> list[Slot]:
    """Slots of ``length`` starting every ``step`` from the start of each open interval,
    that fit in it, start in ``[window_start, window_end)`` and not before ``earliest``, and
    share no time with a ``busy`` interval."""
    taken = _merged(busy)
    taken_starts = [b_start for b_start, _ in taken]
    slots = []
    for open_start, open_end in open_intervals(zone, hours, exceptions, window_start, window_end):
        start = open_start
        while start + length <= open_end and start < window_end:
            end = start + length
            if (
                start >= window_start
                and start >= earliest
                and not _overlaps(taken, taken_starts, start, end)
            ):
                slots.append(Slot(start, end))
            start += step
    return slots


def _merged(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for opens, closes in sorted(intervals):
        if merged and opens <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], closes))
        elif closes > opens:
            merged.append((opens, closes))
    return merged


def _overlaps(
    taken: list[Interval], starts: list[datetime], start: datetime, end: datetime
) -> bool:
    """Whether ``[start, end)`` shares time with one of the disjoint, sorted ``taken``."""
    index = bisect.bisect_right(starts, start) - 1
    if index >= 0 and taken[index][1] > start:
        return True
    return index + 1 < len(taken) and taken[index + 1][0] < end
