"""Reminders N hours before each appointment: once per appointment and lead time, across
restarts, with cancellations and reschedules. The loop's tick runs on an injected clock."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.records.settings import RecordsSettings
from services.records.timers import ReminderLoop
from shared.events.catalog import AppointmentReminderDue
from tests.unit.records.conftest import T0, Records


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _loop(records: Records, clock: Clock, hours: tuple[float, ...] = (24, 1)) -> ReminderLoop:
    return ReminderLoop(records.database, hours, clock=clock)


async def _reminders(records: Records) -> list[tuple[uuid.UUID, float, datetime]]:
    return [
        (e.appointment_id, e.lead_hours, e.starts_at)
        for e in await records.outbox(AppointmentReminderDue)
    ]


async def _booking(records: Records, starts_at: datetime = T0) -> tuple[uuid.UUID, uuid.UUID, str]:
    clinician = await records.register("clinician")
    client = await records.register("client")
    response = await records.book(clinician, client, starts_at)
    assert response.status_code == 201, response.text
    return clinician, client, response.json()["id"]


async def test_each_lead_time_is_reminded_once_at_its_time(records: Records):
    _, _, appointment_id = await _booking(records)
    clock = Clock(T0 - timedelta(hours=24, seconds=1))
    loop = _loop(records, clock)

    assert await loop.tick() == 0
    clock.now = T0 - timedelta(hours=24)
    assert await loop.tick() == 1
    clock.now = T0 - timedelta(hours=23)
    assert await loop.tick() == 0
    clock.now = T0 - timedelta(hours=1)
    assert await loop.tick() == 1
    clock.now = T0 - timedelta(minutes=1)
    assert await loop.tick() == 0
    # A restarted service (a new loop on the same database) sends nothing again.
    assert await _loop(records, clock).tick() == 0

    appointment = uuid.UUID(appointment_id)
    assert await _reminders(records) == [(appointment, 24.0, T0), (appointment, 1.0, T0)]
    [first, _] = await records.outbox(AppointmentReminderDue)
    assert first.at == T0 - timedelta(hours=24)


async def test_after_downtime_only_the_latest_reminder_goes_out(records: Records):
    _, _, appointment_id = await _booking(records)
    clock = Clock(T0 - timedelta(hours=30))
    await _loop(records, clock).tick()

    clock.now = T0 - timedelta(minutes=30)
    assert await _loop(records, clock).tick() == 1
    clock.now = T0 - timedelta(minutes=10)
    assert await _loop(records, clock).tick() == 0

    assert await _reminders(records) == [(uuid.UUID(appointment_id), 1.0, T0)]


async def test_cancelled_and_started_appointments_get_no_reminder(records: Records):
    clinician, _, appointment_id = await _booking(records)
    cancelled = await records.http.post(
        f"/v1/appointments/{appointment_id}/cancel", headers=records.auth(clinician)
    )
    assert cancelled.status_code == 200
    clock = Clock(T0 - timedelta(hours=1))

    assert await _loop(records, clock).tick() == 0
    clock.now = T0 + timedelta(minutes=1)
    assert await _loop(records, clock).tick() == 0
    assert await _reminders(records) == []


async def test_a_rescheduled_appointment_is_reminded_of_its_new_time(records: Records):
    clinician, _, appointment_id = await _booking(records)
    clock = Clock(T0 - timedelta(hours=24))
    loop = _loop(records, clock)
    assert await loop.tick() == 1

    later = T0 + timedelta(days=2)
    moved = await records.http.post(
        f"/v1/appointments/{appointment_id}/reschedule",
        json={
            "starts_at": later.isoformat(),
            "ends_at": (later + timedelta(minutes=50)).isoformat(),
        },
        headers=records.auth(clinician),
    )
    assert moved.status_code == 200
    # The old time passes without a reminder; the new one is reminded 24 hours before.
    clock.now = T0 - timedelta(hours=1)
    assert await loop.tick() == 0
    clock.now = later - timedelta(hours=24)
    assert await loop.tick() == 1

    appointment = uuid.UUID(appointment_id)
    assert await _reminders(records) == [(appointment, 24.0, T0), (appointment, 24.0, later)]


async def test_a_lead_time_that_passed_before_the_booking_is_skipped(records: Records):
    # Booked two hours ahead: the 24-hour reminder's time was before the booking existed.
    soon = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    _, _, appointment_id = await _booking(records, soon)
    clock = Clock(datetime.now(UTC))

    assert await _loop(records, clock).tick() == 0
    clock.now = soon - timedelta(minutes=59)
    assert await _loop(records, clock).tick() == 1
    assert await _reminders(records) == [(uuid.UUID(appointment_id), 1.0, soon)]


async def test_many_appointments_in_one_tick(records: Records):
    ids = [(await _booking(records, T0 + timedelta(hours=i)))[2] for i in range(3)]
    clock = Clock(T0 + timedelta(hours=2) - timedelta(hours=24))

    assert await _loop(records, clock, (24,)).tick() == 3
    assert {r[0] for r in await _reminders(records)} == {uuid.UUID(i) for i in ids}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("24", [24.0]), ("24, 1", [24.0, 1.0]), ("1,24,1", [24.0, 1.0]), ("0.25", [0.25])],
)
def test_reminder_hours_are_a_comma_separated_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[float]
):
    monkeypatch.setenv("RAPPORT_RECORDS_REMINDER_HOURS", value)
    assert RecordsSettings().reminder_hours == expected


def test_reminder_hours_must_be_positive(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAPPORT_RECORDS_REMINDER_HOURS", "24,0")
    with pytest.raises(ValueError, match="positive"):
        RecordsSettings()


async def test_the_loop_ticks_until_stopped(records: Records):
    await _booking(records)
    clock = Clock(T0 - timedelta(hours=1))
    loop = ReminderLoop(records.database, (1,), poll_seconds=0.01, clock=clock)

    task = asyncio.create_task(loop.run())
    async with asyncio.timeout(5):
        while not await _reminders(records):
            await asyncio.sleep(0.01)
    loop.stop()
    await asyncio.wait_for(task, timeout=5)

    assert len(await _reminders(records)) == 1
