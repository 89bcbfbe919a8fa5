"""Availability, free slots and booking over HTTP: by the clinician (any free time), by the
client (a free slot of their clinician), by a partner app; extra participants."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from shared.events.catalog import AppointmentCancelled, AppointmentRescheduled, AppointmentScheduled
from tests.unit.records.conftest import T0, Records

# T0 is Monday 2030-03-04 09:00 UTC.


async def _pair(records: Records) -> tuple[uuid.UUID, uuid.UUID]:
    """A clinician with weekday hours 09:00-17:00 UTC and a client in their care."""
    clinician = await records.register("clinician")
    client = await records.register("client")
    await records.relate(clinician, client)
    await records.set_hours(clinician, ("monday", "tuesday", "wednesday", "thursday", "friday"))
    return clinician, client


async def _slots(
    records: Records, clinician: uuid.UUID, caller: dict[str, str], **params: str
) -> httpx.Response:
    return await records.http.get(
        f"/v1/clinicians/{clinician}/slots", params=params, headers=caller
    )


def _starts(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [s["starts_at"][11:16] for s in response.json()["slots"]]


async def _client_books(
    records: Records,
    clinician: uuid.UUID,
    client: uuid.UUID,
    starts_at: datetime,
    minutes: int = 50,
    **extra: Any,
) -> httpx.Response:
    return await records.http.post(
        "/v1/appointments",
        json={
            "clinician_id": str(clinician),
            "starts_at": starts_at.isoformat(),
            "ends_at": (starts_at + timedelta(minutes=minutes)).isoformat(),
            **extra,
        },
        headers=records.auth(client),
    )


async def test_slots_follow_the_weekly_hours_and_leave_out_booked_time(records: Records):
    clinician, client = await _pair(records)
    day = {"from": T0.isoformat(), "to": (T0 + timedelta(days=1)).isoformat()}

    before = await _slots(records, clinician, records.auth(client), **day)
    assert (
        await records.book(clinician, client, T0 + timedelta(hours=2, minutes=30))
    ).status_code == 201
    after = await _slots(records, clinician, records.auth(client), **day)

    assert _starts(before) == [
        "09:00",
        "10:00",
        "11:00",
        "12:00",
        "13:00",
        "14:00",
        "15:00",
        "16:00",
    ]
    # 11:30-12:20 is booked: the 11:00 and 12:00 slots share time with it.
    assert _starts(after) == ["09:00", "10:00", "13:00", "14:00", "15:00", "16:00"]
    body = after.json()
    assert body["time_zone"] == "UTC" and body["slot_minutes"] == 50
    assert body["slots"][0] == {
        "starts_at": "2030-03-04T09:00:00Z",
        "ends_at": "2030-03-04T09:50:00Z",
    }
    weekend = await _slots(
        records,
        clinician,
        records.auth(clinician),
        **{"from": "2030-03-09T00:00:00Z", "to": "2030-03-11T00:00:00Z"},
    )
    assert _starts(weekend) == []


async def test_a_clinician_without_hours_takes_no_online_bookings(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    await records.relate(clinician, client)

    slots = await _slots(records, clinician, records.auth(client))
    booked = await _client_books(records, clinician, client, T0)
    exception = await records.http.post(
        "/v1/availability/exceptions",
        json={"kind": "off", "first_day": "2030-03-04"},
        headers=records.auth(clinician),
    )

    assert slots.status_code == 404 and slots.json()["error"] == "NoAvailability"
    assert booked.status_code == 422 and booked.json()["error"] == "NotABookableSlot"
    assert exception.status_code == 404
    # The clinician still books their own time.
    assert (await records.book(clinician, client, T0)).status_code == 201


async def test_exceptions_take_time_off_and_add_hours(records: Records):
    clinician, client = await _pair(records)
    auth = records.auth(clinician)
    monday = {"from": T0.isoformat(), "to": (T0 + timedelta(days=1)).isoformat()}
    saturday = {"from": "2030-03-09T00:00:00Z", "to": "2030-03-10T00:00:00Z"}

    off = await records.http.post(
        "/v1/availability/exceptions",
        json={"kind": "off", "first_day": "2030-03-04", "last_day": "2030-03-05"},
        headers=auth,
    )
    extra = await records.http.post(
        "/v1/availability/exceptions",
        json={"kind": "extra", "first_day": "2030-03-09", "start": "10:00", "end": "12:00"},
        headers=auth,
    )
    assert off.status_code == 201 and extra.status_code == 201
    assert _starts(await _slots(records, clinician, auth, **monday)) == []
    assert _starts(await _slots(records, clinician, auth, **saturday)) == ["10:00", "11:00"]
    availability = (await records.http.get("/v1/availability", headers=auth)).json()
    assert [e["kind"] for e in availability["exceptions"]] == ["off", "extra"]

    removed = await records.http.delete(
        f"/v1/availability/exceptions/{off.json()['id']}", headers=auth
    )
    assert removed.status_code == 204
    assert len(_starts(await _slots(records, clinician, auth, **monday))) == 8


async def test_hours_are_kept_in_the_clinicians_time_zone(records: Records):
    clinician, _ = await _pair(records)
    response = await records.http.put(
        "/v1/availability",
        json={
            "time_zone": "America/New_York",
            "weekly_hours": [{"weekday": "monday", "start": "09:00", "end": "10:00"}],
            "slot_minutes": 30,
            "step_minutes": 30,
        },
        headers=records.auth(clinician),
    )
    assert response.status_code == 200, response.text
    assert response.json()["weekly_hours"] == [
        {"weekday": "monday", "start": "09:00", "end": "10:00"}
    ]
    slots = await _slots(
        records,
        clinician,
        records.auth(clinician),
        **{"from": T0.isoformat(), "to": (T0 + timedelta(days=1)).isoformat()},
    )
    # 09:00 in New York is 14:00 UTC in March before the US clocks change (2030-03-10).
    assert [s["starts_at"] for s in slots.json()["slots"]] == [
        "2030-03-04T14:00:00Z",
        "2030-03-04T14:30:00Z",
    ]


async def test_bad_availability_names_the_field(records: Records):
    clinician, _ = await _pair(records)
    auth = records.auth(clinician)

    def hours(**overrides: Any) -> dict[str, Any]:
        return {
            "time_zone": "Europe/Paris",
            "weekly_hours": [{"weekday": 1, "start": "09:00", "end": "17:00"}],
            **overrides,
        }

    bad_zone = await records.http.put(
        "/v1/availability", json=hours(time_zone="Mars/Olympus"), headers=auth
    )
    bad_clock = await records.http.put(
        "/v1/availability",
        json=hours(weekly_hours=[{"weekday": 1, "start": "9am", "end": "17:00"}]),
        headers=auth,
    )
    backwards = await records.http.put(
        "/v1/availability",
        json=hours(weekly_hours=[{"weekday": 8, "start": "17:00", "end": "09:00"}]),
        headers=auth,
    )
    bad_exception = await records.http.post(
        "/v1/availability/exceptions",
        json={"kind": "extra", "first_day": "2030-03-09"},
        headers=auth,
    )
    window = await _slots(
        records,
        clinician,
        auth,
        **{"from": T0.isoformat(), "to": (T0 - timedelta(hours=1)).isoformat()},
    )
    assert bad_zone.status_code == 422
    assert [p["field"] for p in bad_zone.json()["problems"]] == ["body.time_zone"]
    assert "IANA" in bad_zone.text
    assert bad_clock.status_code == 422 and "weekly_hours.0.start" in bad_clock.text
    assert backwards.status_code == 422 and "weekly_hours.0" in backwards.text
    assert bad_exception.status_code == 422 and "start and end" in bad_exception.text
    assert window.status_code == 422 and window.json()["field"] == "to"


async def test_a_client_books_a_free_slot_of_their_clinician(records: Records):
    clinician, client = await _pair(records)

    booked = await _client_books(records, clinician, client, T0 + timedelta(hours=1))
    assert booked.status_code == 201, booked.text
    assert booked.json()["booked_by"] == "client"
    assert booked.json()["client_id"] == str(client)
    [event] = await records.outbox(AppointmentScheduled)
    assert event.booked_by == "client" and event.clinician_id == clinician
    # The record is there for both parties.
    record = await records.http.get(
        f"/v1/sessions/{booked.json()['session_id']}", headers=records.auth(clinician)
    )
    assert record.status_code == 200


async def test_a_client_booking_off_the_slots_is_refused_naming_the_field(records: Records):
    clinician, client = await _pair(records)
    stranger = await records.register("clinician")
    await records.set_hours(stranger)
    taken = await records.book(clinician, client, T0 + timedelta(hours=3))
    assert taken.status_code == 201

    off_grid = await _client_books(records, clinician, client, T0 + timedelta(minutes=10))
    too_long = await _client_books(records, clinician, client, T0, minutes=90)
    saturday = await _client_books(records, clinician, client, T0 + timedelta(days=5))
    clash = await _client_books(records, clinician, client, T0 + timedelta(hours=3))
    past = await _client_books(records, clinician, client, datetime.now(UTC) - timedelta(hours=1))
    not_theirs = await _client_books(records, stranger, client, T0)
    no_clinician = await records.http.post(
        "/v1/appointments",
        json={"starts_at": T0.isoformat(), "ends_at": (T0 + timedelta(minutes=50)).isoformat()},
        headers=records.auth(client),
    )

    for response in (off_grid, too_long, saturday):
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "NotABookableSlot"
        assert response.json()["field"] == "starts_at"
    # A taken slot is a conflict naming its times, but not the other appointment's id.
    assert clash.status_code == 409 and clash.json()["field"] == "starts_at"
    assert clash.json()["conflict"] == {
        "starts_at": "2030-03-04T12:00:00+00:00",
        "ends_at": "2030-03-04T12:50:00+00:00",
    }
    assert past.status_code == 422 and past.json()["field"] == "starts_at"
    assert not_theirs.status_code == 422 and not_theirs.json()["field"] == "clinician_id"
    assert no_clinician.status_code == 422 and no_clinician.json()["field"] == "clinician_id"


async def test_the_clinician_books_any_free_time_and_sees_the_conflicting_id(records: Records):
    clinician, client = await _pair(records)
    # Outside the weekly hours and off the slot grid: the clinician's own choice.
    evening = await records.book(clinician, client, T0 + timedelta(hours=11, minutes=7))
    first = await records.book(clinician, client, T0)
    clash = await records.book(clinician, client, T0 + timedelta(minutes=30))

    assert evening.status_code == 201 and first.status_code == 201
    assert evening.json()["booked_by"] == "clinician"
    assert clash.status_code == 409
    assert clash.json()["conflict"]["appointment_id"] == first.json()["id"]
    assert "2030-03-04T09:00:00+00:00" in clash.json()["detail"]


async def test_the_slot_under_way_can_be_booked_now(records: Records):
    clinician, client = await _pair(records)
    # Open all day, every day, a slot starting every five minutes: one began < 15 min ago.
    response = await records.http.put(
        "/v1/availability",
        json={
            "time_zone": "UTC",
            "weekly_hours": [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(1, 8)],
            "step_minutes": 5,
        },
        headers=records.auth(clinician),
    )
    assert response.status_code == 200
    now = datetime.now(UTC)

    default = await _slots(records, clinician, records.auth(client))
    from_past = await _slots(
        records, clinician, records.auth(client), **{"from": (now - timedelta(hours=1)).isoformat()}
    )
    first = default.json()["slots"][0]
    starts_at = datetime.fromisoformat(first["starts_at"])
    assert now - timedelta(minutes=15) <= starts_at <= now
    # Asking from an hour ago still offers nothing that began more than 15 minutes ago.
    assert from_past.json()["slots"][0] == first

    booked = await records.http.post(
        "/v1/appointments",
        json={"clinician_id": str(clinician), **first},
        headers=records.auth(client),
    )
    assert booked.status_code == 201, booked.text
    later = await _slots(records, clinician, records.auth(client))
    assert first not in later.json()["slots"]


async def test_a_client_reschedules_only_onto_a_free_slot(records: Records):
    clinician, client = await _pair(records)
    booked = await _client_books(records, clinician, client, T0)
    url = f"/v1/appointments/{booked.json()['id']}/reschedule"

    def times(starts_at: datetime) -> dict[str, str]:
        return {
            "starts_at": starts_at.isoformat(),
            "ends_at": (starts_at + timedelta(minutes=50)).isoformat(),
        }

    off_grid = await records.http.post(
        url, json=times(T0 + timedelta(minutes=20)), headers=records.auth(client)
    )
    moved = await records.http.post(
        url, json=times(T0 + timedelta(hours=3)), headers=records.auth(client)
    )
    nudged = await records.http.post(
        url, json=times(T0 + timedelta(hours=3, minutes=5)), headers=records.auth(clinician)
    )

    assert off_grid.status_code == 422 and off_grid.json()["error"] == "NotABookableSlot"
    assert moved.status_code == 200 and moved.json()["starts_at"] == "2030-03-04T12:00:00Z"
    # The clinician may move it off the grid.
    assert nudged.status_code == 200


async def test_extra_participants_travel_with_the_appointment(records: Records):
    clinician, client = await _pair(records)
    interpreter = await records.register("client")
    relative = await records.register("client")

    booked = await records.http.post(
        "/v1/appointments",
        json={
            "client_id": str(client),
            "starts_at": T0.isoformat(),
            "ends_at": (T0 + timedelta(minutes=50)).isoformat(),
            "max_participants": 3,
            "invited_participant_ids": [str(interpreter)],
        },
        headers=records.auth(clinician),
    )
    assert booked.status_code == 201, booked.text
    assert booked.json()["max_participants"] == 3
    assert booked.json()["invited_participant_ids"] == [str(interpreter)]
    [scheduled] = await records.outbox(AppointmentScheduled)
    assert scheduled.max_participants == 3 and scheduled.invited_participant_ids == [interpreter]

    moved = await records.http.post(
        f"/v1/appointments/{booked.json()['id']}/reschedule",
        json={
            "starts_at": (T0 + timedelta(hours=1)).isoformat(),
            "ends_at": (T0 + timedelta(hours=1, minutes=50)).isoformat(),
            "max_participants": 4,
            "invited_participant_ids": [str(interpreter), str(relative)],
        },
        headers=records.auth(client),
    )
    assert moved.status_code == 200, moved.text
    [rescheduled] = await records.outbox(AppointmentRescheduled)
    assert rescheduled.max_participants == 4
    assert rescheduled.invited_participant_ids == [interpreter, relative]
    # A plain booking has the defaults.
    plain = await _client_books(records, clinician, client, T0 + timedelta(hours=4))
    assert plain.json()["max_participants"] == 2 and plain.json()["invited_participant_ids"] == []


async def test_bad_participants_name_the_field(records: Records):
    clinician, client = await _pair(records)
    guest = await records.register("client")
    cases = [
        ({"max_participants": 6}, "max_participants"),
        ({"max_participants": 1}, "max_participants"),
        ({"invited_participant_ids": [str(guest)]}, "invited_participant_ids"),
        (
            {"max_participants": 3, "invited_participant_ids": [str(uuid.uuid4())]},
            "invited_participant_ids",
        ),
        (
            {"max_participants": 3, "invited_participant_ids": [str(client)]},
            "invited_participant_ids",
        ),
        (
            {"max_participants": 4, "invited_participant_ids": [str(guest), str(guest)]},
            "invited_participant_ids",
        ),
    ]
    for extra, field in cases:
        response = await _client_books(records, clinician, client, T0, **extra)
        assert response.status_code == 422, (extra, response.text)
        assert field in response.text, (extra, response.text)


async def test_a_partner_app_books_reschedules_and_cancels_for_a_granting_clinician(
    records: Records,
):
    clinician, client = await _pair(records)
    unrelated = await records.register("client")
    token = records.issuer.issue(
        "pa_scheduler",
        "partner",
        scopes="appointments:read appointments:write",
        clinicians=[str(clinician)],
    )
    partner = {"Authorization": f"Bearer {token}"}

    def body(starts_at: datetime, client_id: uuid.UUID = client) -> dict[str, str]:
        return {
            "clinician_id": str(clinician),
            "client_id": str(client_id),
            "starts_at": starts_at.isoformat(),
            "ends_at": (starts_at + timedelta(minutes=50)).isoformat(),
        }

    slots = await _slots(
        records,
        clinician,
        partner,
        **{"from": T0.isoformat(), "to": (T0 + timedelta(hours=2)).isoformat()},
    )
    booked = await records.http.post("/v1/appointments", json=body(T0), headers=partner)
    off_grid = await records.http.post(
        "/v1/appointments", json=body(T0 + timedelta(hours=1, minutes=5)), headers=partner
    )
    not_in_care = await records.http.post(
        "/v1/appointments", json=body(T0 + timedelta(hours=1), unrelated), headers=partner
    )
    assert _starts(slots) == ["09:00", "10:00"]
    assert booked.status_code == 201 and booked.json()["booked_by"] == "partner"
    assert off_grid.status_code == 422 and off_grid.json()["error"] == "NotABookableSlot"
    assert not_in_care.status_code == 422 and not_in_care.json()["field"] == "client_id"

    url = f"/v1/appointments/{booked.json()['id']}"
    moved = await records.http.post(
        f"{url}/reschedule",
        json={k: v for k, v in body(T0 + timedelta(hours=1)).items() if k.endswith("_at")},
        headers=partner,
    )
    no_show = await records.http.post(f"{url}/no-show", headers=partner)
    cancelled = await records.http.post(f"{url}/cancel", headers=partner)
    assert moved.status_code == 200
    assert no_show.status_code == 403
    assert cancelled.status_code == 200
    [event] = await records.outbox(AppointmentCancelled)
    assert event.cancelled_by == "partner"
    listed = await records.http.get("/v1/appointments", headers=partner)
    assert [a["status"] for a in listed.json()] == ["cancelled"]
