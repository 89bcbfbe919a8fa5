"""The records HTTP API: booking, goals, goal updates, session records, the access rules."""

from __future__ import annotations

import uuid
from datetime import timedelta

from services.records.models import AuditEntry
from shared.events.catalog import AppointmentScheduled, GoalUpdated, ParticipantJoined
from tests.unit.records.conftest import T0, Records

# Appointments


async def test_clinician_books_an_appointment_with_its_session_and_event(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")

    response = await records.book(clinician, client)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["clinician_id"] == str(clinician)
    assert body["client_id"] == str(client)
    assert body["status"] == "booked"
    assert body["starts_at"].startswith("2030-03-04T09:00:00")
    [event] = await records.outbox(AppointmentScheduled)
    assert str(event.appointment_id) == body["id"]
    assert str(event.session_id) == body["session_id"]
    assert (event.clinician_id, event.client_id) == (clinician, client)
    assert event.starts_at == T0
    record = await records.http.get(
        f"/v1/sessions/{body['session_id']}", headers=records.auth(clinician)
    )
    assert record.status_code == 200
    assert record.json()["status"] == "scheduled"
    assert record.json()["appointment_id"] == body["id"]


async def test_times_in_other_zones_are_stored_as_the_same_instant(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    response = await records.http.post(
        "/v1/appointments",
        json={
            "client_id": str(client),
            "starts_at": "2030-03-04T10:00:00+01:00",
            "ends_at": "2030-03-04T10:50:00+01:00",
        },
        headers=records.auth(clinician),
    )
    assert response.status_code == 201, response.text
    [event] = await records.outbox(AppointmentScheduled)
    assert event.starts_at == T0


async def test_a_client_cannot_book(records: Records):
    client = await records.register("client")
    other_client = await records.register("client")

    response = await records.book(client, other_client)

    assert response.status_code == 403
    assert response.json()["error"] == "Forbidden"
    assert await records.outbox(AppointmentScheduled) == []


async def test_booking_needs_a_token(records: Records):
    response = await records.http.post("/v1/appointments", json={})
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"


async def test_booking_an_unknown_client_is_refused(records: Records):
    clinician = await records.register("clinician")
    another_clinician = await records.register("clinician")

    for client in (uuid.uuid4(), another_clinician):
        response = await records.book(clinician, client)
        assert response.status_code == 422
        assert response.json()["error"] == "UnknownClient"
        assert response.json()["detail"].startswith(f"unknown client {client}")
    assert await records.outbox(AppointmentScheduled) == []


async def test_overlapping_appointments_of_one_clinician_are_refused(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    other_client = await records.register("client")
    assert (await records.book(clinician, client, T0)).status_code == 201

    overlapping = await records.book(clinician, other_client, T0 + timedelta(minutes=30))
    inside = await records.book(clinician, other_client, T0 + timedelta(minutes=10), minutes=5)

    assert overlapping.status_code == 409
    assert overlapping.json()["error"] == "AppointmentOverlaps"
    assert inside.status_code == 409
    assert len(await records.outbox(AppointmentScheduled)) == 1


async def test_back_to_back_and_other_clinicians_appointments_do_not_overlap(records: Records):
    clinician = await records.register("clinician")
    colleague = await records.register("clinician")
    client = await records.register("client")
    other_client = await records.register("client")
    assert (await records.book(clinician, client, T0)).status_code == 201

    right_after = await records.book(clinician, other_client, T0 + timedelta(minutes=50))
    colleague_same_time = await records.book(colleague, other_client, T0 + timedelta(days=1))
    colleague_overlap = await records.book(colleague, client, T0 + timedelta(minutes=20))

    assert right_after.status_code == 201
    assert colleague_same_time.status_code == 201
    assert colleague_overlap.status_code == 201


async def test_naive_datetimes_are_refused(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    response = await records.http.post(
        "/v1/appointments",
        json={
            "client_id": str(client),
            "starts_at": "2030-03-04T09:00:00",
            "ends_at": "2030-03-04T09:50:00",
        },
        headers=records.auth(clinician),
    )
    assert response.status_code == 422
    assert response.json()["error"] == "InvalidRequest"
    assert "timezone" in response.json()["detail"]


async def test_an_appointment_must_end_after_it_starts(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    response = await records.book(clinician, client, minutes=0)
    assert response.status_code == 422
    assert "ends_at must be after starts_at" in response.json()["detail"]


async def test_malformed_booking_bodies_get_a_422(records: Records):
    clinician = await records.register("clinician")
    for body in (
        {"client_id": "not-a-uuid", "starts_at": T0.isoformat(), "ends_at": T0.isoformat()},
        {"starts_at": T0.isoformat()},
        {"client_id": str(uuid.uuid4()), "starts_at": "tomorrow", "ends_at": "later"},
    ):
        response = await records.http.post(
            "/v1/appointments", json=body, headers=records.auth(clinician)
        )
        assert response.status_code == 422, body
        assert response.json()["error"] == "InvalidRequest"


async def test_each_party_lists_their_own_appointments(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    other_client = await records.register("client")
    stranger = await records.register("clinician")
    first = (await records.book(clinician, client, T0)).json()
    second = (await records.book(clinician, other_client, T0 + timedelta(hours=1))).json()

    async def listed(user: uuid.UUID) -> list[str]:
        response = await records.http.get("/v1/appointments", headers=records.auth(user))
        assert response.status_code == 200
        return [a["id"] for a in response.json()]

    assert await listed(clinician) == [first["id"], second["id"]]
    assert await listed(client) == [first["id"]]
    assert await listed(other_client) == [second["id"]]
    assert await listed(stranger) == []


# Goals and goal updates


async def test_a_clinician_sets_a_goal_and_both_parties_see_it(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    other_client = await records.register("client")

    goal = await records.set_goal(clinician, client)
    await records.set_goal(clinician, other_client)

    assert goal["status"] == "active"
    assert goal["statement"] == "Sleep before midnight"
    assert (goal["clinician_id"], goal["client_id"]) == (str(clinician), str(client))
    as_client = await records.http.get("/v1/goals", headers=records.auth(client))
    assert [g["id"] for g in as_client.json()] == [goal["id"]]
    as_clinician = await records.http.get(
        "/v1/goals", params={"client_id": str(client)}, headers=records.auth(clinician)
    )
    assert [g["id"] for g in as_clinician.json()] == [goal["id"]]
    everything = await records.http.get("/v1/goals", headers=records.auth(clinician))
    assert len(everything.json()) == 2


async def test_goals_stay_between_their_clinician_and_client(records: Records):
    clinician = await records.register("clinician")
    colleague = await records.register("clinician")
    client = await records.register("client")
    other_client = await records.register("client")
    await records.set_goal(clinician, client)

    colleague_view = await records.http.get(
        "/v1/goals", params={"client_id": str(client)}, headers=records.auth(colleague)
    )
    peeking_client = await records.http.get(
        "/v1/goals", params={"client_id": str(client)}, headers=records.auth(other_client)
    )
    admin = await records.http.get("/v1/goals", headers=records.auth(uuid.uuid4(), "admin"))

    assert colleague_view.status_code == 200
    assert colleague_view.json() == []
    assert peeking_client.status_code == 403
    assert admin.status_code == 403


async def test_goal_proposals_name_the_other_party_and_need_a_known_client(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    by_client = await records.http.post(
        "/v1/goals",
        json={"client_id": str(client), "statement": "x"},
        headers=records.auth(client),
    )
    unknown = await records.http.post(
        "/v1/goals",
        json={"client_id": str(uuid.uuid4()), "statement": "x"},
        headers=records.auth(clinician),
    )
    empty = await records.http.post(
        "/v1/goals",
        json={"client_id": str(client), "statement": "   "},
        headers=records.auth(clinician),
    )
    # A client proposes too, but names their clinician, not themselves.
    assert by_client.status_code == 422
    assert by_client.json()["field"] == "clinician_id"
    assert unknown.status_code == 422
    assert unknown.json()["error"] == "UnknownClient"
    assert empty.status_code == 422


async def test_both_parties_log_goal_updates_and_the_event_carries_no_note(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    goal = await records.set_goal(clinician, client)
    session_id = await records.booked_session(clinician, client)

    by_client = await records.http.post(
        f"/v1/goals/{goal['id']}/updates",
        json={"session_id": str(session_id), "progress": 6, "note": "woke up rested twice"},
        headers=records.auth(client),
    )
    by_clinician = await records.http.post(
        f"/v1/goals/{goal['id']}/updates",
        json={"progress": 5, "note": "steady"},
        headers=records.auth(clinician),
    )

    assert by_client.status_code == 201, by_client.text
    assert by_client.json()["author_role"] == "client"
    assert by_client.json()["author_id"] == str(client)
    assert by_client.json()["session_id"] == str(session_id)
    assert by_client.json()["note"] == "woke up rested twice"
    assert by_clinician.status_code == 201
    assert by_clinician.json()["author_role"] == "clinician"
    assert by_clinician.json()["session_id"] is None
    events = await records.outbox(GoalUpdated)
    assert [(e.author_role, e.progress, e.session_id) for e in events] == [
        ("client", 6, session_id),
        ("clinician", 5, None),
    ]
    assert all(b"woke up rested" not in value for value in await records.outbox_values())


async def test_goal_updates_validate_their_input(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    goal = await records.set_goal(clinician, client)

    for body in (
        {"progress": 11, "note": ""},
        {"progress": -1, "note": ""},
        {"progress": "7", "note": ""},
        {"progress": 7, "note": "x" * 2001},
        {"progress": 7},
    ):
        response = await records.http.post(
            f"/v1/goals/{goal['id']}/updates", json=body, headers=records.auth(client)
        )
        assert response.status_code == 422, body
        assert response.json()["error"] == "InvalidRequest"
    assert await records.outbox(GoalUpdated) == []


async def test_goal_updates_only_by_the_goals_parties_and_in_their_sessions(records: Records):
    clinician = await records.register("clinician")
    colleague = await records.register("clinician")
    client = await records.register("client")
    other_client = await records.register("client")
    goal = await records.set_goal(clinician, client)
    others_session = await records.booked_session(clinician, other_client)

    def update(user: uuid.UUID, goal_id: str = goal["id"], **extra: str):
        return records.http.post(
            f"/v1/goals/{goal_id}/updates",
            json={"progress": 3, "note": "", **extra},
            headers=records.auth(user),
        )

    assert (await update(colleague)).status_code == 403
    assert (await update(other_client)).status_code == 403
    assert (await update(client, goal_id=str(uuid.uuid4()))).status_code == 404
    foreign = await update(client, session_id=str(others_session))
    unknown = await update(client, session_id=str(uuid.uuid4()))
    assert foreign.status_code == unknown.status_code == 422
    assert foreign.json()["error"] == unknown.json()["error"] == "UnknownSession"
    assert await records.outbox(GoalUpdated) == []


# Session records: who reads what


async def test_only_the_sessions_clinician_and_client_read_its_record(records: Records):
    clinician = await records.register("clinician")
    colleague = await records.register("clinician")
    client = await records.register("client")
    other_client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    path = f"/v1/sessions/{session_id}"

    statuses = {
        "clinician": (await records.http.get(path, headers=records.auth(clinician))).status_code,
        "client": (await records.http.get(path, headers=records.auth(client))).status_code,
        "another clinician": (
            await records.http.get(path, headers=records.auth(colleague))
        ).status_code,
        "another client": (
            await records.http.get(path, headers=records.auth(other_client))
        ).status_code,
        "admin": (
            await records.http.get(path, headers=records.auth(uuid.uuid4(), "admin"))
        ).status_code,
        "nobody": (await records.http.get(path)).status_code,
    }

    assert statuses == {
        "clinician": 200,
        "client": 200,
        "another clinician": 403,
        "another client": 403,
        "admin": 403,
        "nobody": 401,
    }
    unknown = await records.http.get(f"/v1/sessions/{uuid.uuid4()}", headers=records.auth(client))
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "SessionRecordNotFound"
    malformed = await records.http.get("/v1/sessions/nope", headers=records.auth(client))
    assert malformed.status_code == 422


async def test_a_client_sees_their_own_notes_but_not_the_clinicians(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    goal = await records.set_goal(clinician, client)
    session_id = await records.booked_session(clinician, client)
    for author, note in ((client, "client's words"), (clinician, "clinician's words")):
        response = await records.http.post(
            f"/v1/goals/{goal['id']}/updates",
            json={"session_id": str(session_id), "progress": 4, "note": note},
            headers=records.auth(author),
        )
        assert response.status_code == 201

    def notes(user: uuid.UUID):
        return records.http.get(f"/v1/sessions/{session_id}", headers=records.auth(user))

    as_clinician = (await notes(clinician)).json()["goal_updates"]
    as_client = (await notes(client)).json()["goal_updates"]
    assert [u["note"] for u in as_clinician] == ["client's words", "clinician's words"]
    assert [u["note"] for u in as_client] == ["client's words", None]
    assert [u["progress"] for u in as_client] == [4, 4]


# Audit log


async def test_reads_and_changes_are_audited_without_clinical_text(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    colleague = await records.register("clinician")
    goal = await records.set_goal(clinician, client)
    session_id = await records.booked_session(clinician, client)
    update = await records.http.post(
        f"/v1/goals/{goal['id']}/updates",
        json={"session_id": str(session_id), "progress": 8, "note": "private words"},
        headers=records.auth(client),
    )
    before = len(await records.audit_entries())

    read = await records.http.get(f"/v1/sessions/{session_id}", headers=records.auth(client))
    await records.http.get(f"/v1/sessions/{session_id}", headers=records.auth(colleague))

    assert read.status_code == 200
    entries = await records.audit_entries()
    reads = [
        (e.actor_id, e.actor_role, e.action, e.resource_type, e.resource_id)
        for e in entries[before:]
    ]
    # The refused read of the colleague changed nothing and left no read entry.
    assert reads == [
        (client, "client", "read", "session_record", str(session_id)),
        (client, "client", "read", "goal_update", update.json()["id"]),
    ]
    changes = {(e.action, e.resource_type) for e in entries[:before]}
    assert {
        ("create", "goal"),
        ("create", "appointment"),
        ("create", "session_record"),
        ("create", "goal_update"),
    } <= changes
    assert all("private words" not in repr(e) and "midnight" not in repr(e) for e in entries)


async def test_listing_appointments_and_goals_is_audited_per_record(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    appointment = (await records.book(clinician, client)).json()
    goal = await records.set_goal(clinician, client)
    before = len(await records.audit_entries())

    await records.http.get("/v1/appointments", headers=records.auth(client))
    await records.http.get("/v1/goals", headers=records.auth(client))

    entries: list[AuditEntry] = (await records.audit_entries())[before:]
    assert [(e.action, e.resource_type, e.resource_id) for e in entries] == [
        ("read", "appointment", appointment["id"]),
        ("read", "goal", goal["id"]),
    ]
    assert {e.actor_id for e in entries} == {client}


async def test_changes_made_from_signaling_events_are_audited_as_system(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    before = len(await records.audit_entries())

    await records.deliver(
        ParticipantJoined(session_id=session_id, user_id=client, role="client", at=T0)
    )

    [entry] = (await records.audit_entries())[before:]
    assert (entry.actor_id, entry.actor_role, entry.action, entry.resource_type) == (
        None,
        "system",
        "update",
        "session_record",
    )
    assert entry.resource_id == str(session_id)
