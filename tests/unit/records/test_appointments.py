"""The appointment lifecycle: reschedule, cancel, no-show, FHIR statuses, time zones, and
bookings refused for the past or for a taken slot."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.events.catalog import (
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentRescheduled,
    ParticipantCheckedIn,
    ParticipantJoined,
    SessionEnded,
)
from tests.unit.records.conftest import T0, Records


async def _booked(records: Records, starts_at: datetime = T0) -> tuple[uuid.UUID, uuid.UUID, Any]:
    clinician = await records.register("clinician")
    client = await records.register("client")
    response = await records.book(clinician, client, starts_at)
    assert response.status_code == 201, response.text
    return clinician, client, response.json()


def _times(starts_at: datetime, minutes: int = 50) -> dict[str, str]:
    return {
        "starts_at": starts_at.isoformat(),
        "ends_at": (starts_at + timedelta(minutes=minutes)).isoformat(),
    }


async def test_a_client_reschedules_into_a_free_slot_and_the_session_stays(records: Records):
    clinician, client, appointment = await _booked(records)
    await records.set_hours(clinician)
    later = T0 + timedelta(hours=3)

    moved = await records.http.post(
        f"/v1/appointments/{appointment['id']}/reschedule",
        json=_times(later),
        headers=records.auth(client),
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["session_id"] == appointment["session_id"]
    assert moved.json()["starts_at"].startswith("2030-03-04T12:00:00")
    [event] = await records.outbox(AppointmentRescheduled)
    assert event.starts_at == later
    # The old slot is free again; the new one is taken.
    assert (await records.book(clinician, client, T0)).status_code == 201
    assert (await records.book(clinician, client, later + timedelta(minutes=10))).status_code == 409


async def test_rescheduling_onto_another_appointment_is_a_conflict(records: Records):
    clinician, client, appointment = await _booked(records)
    other = await records.book(clinician, client, T0 + timedelta(hours=2))
    assert other.status_code == 201

    clash = await records.http.post(
        f"/v1/appointments/{appointment['id']}/reschedule",
        json=_times(T0 + timedelta(hours=2, minutes=30)),
        headers=records.auth(clinician),
    )
    # Moving within its own slot is no clash with itself.
    nudge = await records.http.post(
        f"/v1/appointments/{appointment['id']}/reschedule",
        json=_times(T0 + timedelta(minutes=10)),
        headers=records.auth(clinician),
    )
    assert clash.status_code == 409 and clash.json()["field"] == "starts_at"
    assert nudge.status_code == 200


async def test_cancelling_frees_the_slot_and_closes_the_appointment(records: Records):
    clinician, client, appointment = await _booked(records)
    url = f"/v1/appointments/{appointment['id']}"

    cancelled = await records.http.post(f"{url}/cancel", headers=records.auth(client))
    again = await records.http.post(f"{url}/cancel", headers=records.auth(clinician))
    moved = await records.http.post(
        f"{url}/reschedule", json=_times(T0 + timedelta(days=1)), headers=records.auth(client)
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409 and moved.status_code == 409
    [event] = await records.outbox(AppointmentCancelled)
    assert event.cancelled_by == "client"
    record = await records.http.get(
        f"/v1/sessions/{appointment['session_id']}", headers=records.auth(clinician)
    )
    assert record.json()["status"] == "cancelled"
    assert (await records.book(clinician, client, T0)).status_code == 201


async def test_only_the_clinician_marks_a_no_show_and_only_after_the_start(records: Records):
    now = datetime.now(UTC)
    clinician, client, started = await _booked(records, now - timedelta(minutes=5))
    future = await records.book(clinician, client, T0)

    by_client = await records.http.post(
        f"/v1/appointments/{started['id']}/no-show", headers=records.auth(client)
    )
    too_early = await records.http.post(
        f"/v1/appointments/{future.json()['id']}/no-show", headers=records.auth(clinician)
    )
    marked = await records.http.post(
        f"/v1/appointments/{started['id']}/no-show", headers=records.auth(clinician)
    )
    assert by_client.status_code == 403
    assert too_early.status_code == 409
    assert marked.status_code == 200 and marked.json()["status"] == "noshow"
    [event] = await records.outbox(AppointmentNoShow)
    assert event.appointment_id == uuid.UUID(started["id"])


async def test_statuses_follow_the_session_check_in_fulfilled_and_noshow(records: Records):
    clinician, client, attended = await _booked(records)
    missed = (await records.book(clinician, client, T0 + timedelta(hours=2))).json()
    attended_session = uuid.UUID(attended["session_id"])
    missed_session = uuid.UUID(missed["session_id"])
    at = T0 + timedelta(minutes=1)

    await records.deliver(
        ParticipantCheckedIn(session_id=attended_session, user_id=client, role="client", at=at)
    )
    statuses = await _statuses(records, clinician)
    assert statuses[attended["id"]] == "checked-in"

    await records.deliver(
        ParticipantJoined(session_id=attended_session, user_id=client, role="client", at=at),
        ParticipantJoined(session_id=attended_session, user_id=clinician, role="clinician", at=at),
        SessionEnded(session_id=attended_session, ended_by=clinician, reason="ended", at=at),
        SessionEnded(session_id=missed_session, ended_by=None, reason="expired", at=at),
    )
    await records.settle()
    statuses = await _statuses(records, clinician)
    assert statuses == {attended["id"]: "fulfilled", missed["id"]: "noshow"}
    [no_show] = await records.outbox(AppointmentNoShow)
    assert no_show.appointment_id == uuid.UUID(missed["id"])


async def _statuses(records: Records, user: uuid.UUID) -> dict[str, str]:
    response = await records.http.get("/v1/appointments", headers=records.auth(user))
    return {a["id"]: a["status"] for a in response.json()}


async def test_times_are_shown_in_the_readers_time_zone(records: Records):
    clinician, client, _ = await _booked(records)

    paris = await records.http.get(
        "/v1/appointments", params={"tz": "Europe/Paris"}, headers=records.auth(client)
    )
    tokyo = await records.http.get(
        "/v1/appointments", params={"tz": "Asia/Tokyo"}, headers=records.auth(clinician)
    )
    bad = await records.http.get(
        "/v1/appointments", params={"tz": "Mars/Olympus"}, headers=records.auth(client)
    )
    assert paris.json()[0]["starts_at"] == "2030-03-04T10:00:00+01:00"
    assert tokyo.json()[0]["starts_at"] == "2030-03-04T18:00:00+09:00"
    assert bad.status_code == 422 and bad.json()["field"] == "tz"


async def test_bad_bookings_name_the_field(records: Records):
    clinician, client, _ = await _booked(records)
    past = await records.book(clinician, client, datetime.now(UTC) - timedelta(days=1))
    overlapping = await records.book(clinician, client, T0 + timedelta(minutes=49))
    naive = await records.http.post(
        "/v1/appointments",
        json={
            "client_id": str(client),
            "starts_at": "2030-03-04T12:00:00",
            "ends_at": "2030-03-04T12:50:00",
        },
        headers=records.auth(clinician),
    )
    unknown = await records.http.post(
        f"/v1/appointments/{uuid.uuid4()}/cancel", headers=records.auth(clinician)
    )
    assert past.status_code == 422 and past.json()["field"] == "starts_at"
    assert overlapping.status_code == 409 and overlapping.json()["field"] == "starts_at"
    assert naive.status_code == 422 and "starts_at" in naive.text
    assert unknown.status_code == 404
    # Back to back is not an overlap.
    assert (await records.book(clinician, client, T0 + timedelta(minutes=50))).status_code == 201
