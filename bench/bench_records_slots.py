"""Free-slot computation for a busy clinician: records' rules against a naive baseline.

The case: `GET /v1/clinicians/{id}/slots` over the longest window records allows (62 days),
a clinician open around the clock with a slot starting every 5 minutes (~17,800 candidate
slots), and 500 booked appointments. Records merges the bookings once and finds overlaps by
bisection; the baseline, measured in the same run, checks every candidate against every
booking (what a first version would do). Both must return the same slots; the figures are
medians over a few rounds. Prints figures; passes or fails nothing.

    uv run python bench/bench_records_slots.py [--bookings 500] [--rounds 5] [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bench import _table
from services.records.scheduling.rules import (
    Interval,
    Slot,
    WeeklyHours,
    free_slots,
    open_intervals,
)

ZONE = ZoneInfo("Europe/Berlin")
AROUND_THE_CLOCK = [WeeklyHours(weekday=day, start=0, end=24 * 60) for day in range(1, 8)]
LENGTH = timedelta(minutes=50)
STEP = timedelta(minutes=5)


def bookings(count: int, start: datetime, days: int) -> list[Interval]:
    """``count`` 50-minute appointments at random 5-minute marks in the window (seeded)."""
    chooser = random.Random(7)  # noqa: S311 - a reproducible load, not a secret
    marks = days * 24 * 12
    return [
        (begin, begin + LENGTH)
        for begin in (start + STEP * chooser.randrange(marks) for _ in range(count))
    ]


def naive_free_slots(busy: list[Interval], start: datetime, end: datetime) -> list[Slot]:
    """The baseline: every candidate slot checked against every booking."""
    slots = []
    for open_start, open_end in open_intervals(ZONE, AROUND_THE_CLOCK, [], start, end):
        begin = open_start
        while begin + LENGTH <= open_end and begin < end:
            finish = begin + LENGTH
            if begin >= start and not any(b < finish and begin < e for b, e in busy):
                slots.append(Slot(begin, finish))
            begin += STEP
    return slots


def median_seconds(run, rounds: int) -> tuple[float, list[Slot]]:  # type: ignore[no-untyped-def]
    timings, result = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        result = run()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--days", type=int, default=62)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does it still run")
    args = parser.parse_args()
    if args.quick:
        args.bookings, args.rounds, args.days = 20, 1, 3

    start = datetime(2027, 3, 1, tzinfo=UTC)  # spans the March daylight-saving change
    end = start + timedelta(days=args.days)
    busy = bookings(args.bookings, start, args.days)

    ours, slots = median_seconds(
        lambda: free_slots(
            ZONE,
            AROUND_THE_CLOCK,
            [],
            busy,
            window_start=start,
            window_end=end,
            earliest=start,
            length=LENGTH,
            step=STEP,
        ),
        args.rounds,
    )
    baseline, expected = median_seconds(lambda: naive_free_slots(busy, start, end), args.rounds)
    if slots != expected:
        raise SystemExit("records and the baseline disagree on the free slots")

    print(f"window {args.days} days, slot every {STEP}, {args.bookings} bookings")
    print(f"free slots found:          {len(slots):,}")
    print(f"records (merge + bisect):  {ours * 1000:8.1f} ms  (median of {args.rounds})")
    print(f"baseline (all pairs):      {baseline * 1000:8.1f} ms")
    print(f"speed-up:                  {baseline / ours:8.1f}x")
    _table.report(
        [
            _table.Figure(
                bench="records_slots",
                name=f"free slots, {args.days} days, {args.bookings} bookings",
                value=ours * 1000,
                unit="ms",
                samples=len(slots),
                baseline=baseline * 1000,
                baseline_name="all-pairs check",
                higher_is_better=False,
            )
        ]
    )


if __name__ == "__main__":
    main()
