"""The working partnership over HTTP: care relationships, two-party goal agreement, goal
history with corrections, check-ins and their flag events, private and shared notes."""

from __future__ import annotations

import uuid
from typing import Any

from shared.events.catalog import (
    AllianceConcernFlagged,
    CareRelationshipStarted,
    CheckInSubmitted,
    GoalAchieved,
    GoalAgreed,
    GoalProposed,
    InvitationAccepted,
    OutcomeBelowCutoff,
    OutcomeReliableChange,
)
from tests.unit.records.conftest import T0, Records

# Care relationships


async def test_the_first_booking_starts_the_care_relationship_once(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")

    await records.booked_session(clinician, client)
    await records.booked_session(clinician, client, T0.replace(hour=11))

    [started] = await records.outbox(CareRelationshipStarted)
    assert (started.clinician_id, started.client_id) == (clinician, client)
    for user in (clinician, client):
        listed = await records.http.get("/v1/care-relationships", headers=records.auth(user))
        [relationship] = listed.json()
        assert relationship["started_via"] == "booking"
        assert relationship["status"] == "active"


async def test_a_clinician_starts_a_relationship_explicitly_and_discharges(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")

    first = await records.http.post(
        "/v1/care-relationships", json={"client_id": str(client)}, headers=records.auth(clinician)
    )
    again = await records.http.post(
        "/v1/care-relationships", json={"client_id": str(client)}, headers=records.auth(clinician)
    )
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert first.json()["started_via"] == "clinician"
    relationship_id = first.json()["id"]

    by_client = await records.http.post(
        f"/v1/care-relationships/{relationship_id}/discharge", headers=records.auth(client)
    )
    ended = await records.http.post(
        f"/v1/care-relationships/{relationship_id}/discharge", headers=records.auth(clinician)
    )
    assert by_client.status_code == 403
    assert ended.status_code == 200
    assert ended.json()["status"] == "ended" and ended.json()["ended_at"] is not None
    # Once discharged, no new goals in that relationship.
    goal = await records.http.post(
        "/v1/goals",
        json={"client_id": str(client), "statement": "x"},
        headers=records.auth(clinician),
    )
    assert goal.status_code == 422
    assert goal.json()["error"] == "NoCareRelationship"
    assert goal.json()["field"] == "client_id"


async def test_only_registered_clients_can_be_taken_on(records: Records):
    clinician = await records.register("clinician")
    for body in ({"client_id": str(uuid.uuid4())}, {"client_id": "nope"}, {}):
        response = await records.http.post(
            "/v1/care-relationships", json=body, headers=records.auth(clinician)
        )
        assert response.status_code == 422, body
        assert "client_id" in response.text


# Goals: two-party agreement


async def test_a_goal_becomes_active_only_when_both_parties_agreed(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    goal = await records.propose_goal(clinician, client)
    assert goal["status"] == "proposed"
    assert goal["agreed_by"] == ["clinician"]

    # Proposed: no progress yet, and the proposer cannot agree a second time.
    update = await records.http.post(
        f"/v1/goals/{goal['id']}/updates",
        json={"progress": 3, "note": "x"},
        headers=records.auth(clinician),
    )
    twice = await records.http.post(
        f"/v1/goals/{goal['id']}/agreement", headers=records.auth(clinician)
    )
    assert update.status_code == 409 and update.json()["error"] == "GoalNotActive"
    assert twice.status_code == 409 and twice.json()["error"] == "AlreadyAgreed"

    agreed = await records.http.post(
        f"/v1/goals/{goal['id']}/agreement", headers=records.auth(client)
    )
    assert agreed.status_code == 200
    assert agreed.json()["status"] == "active"
    assert agreed.json()["achievement_status"] == "in-progress"
    assert agreed.json()["agreed_by"] == ["client", "clinician"]
    [proposed] = await records.outbox(GoalProposed)
    [agreed_event] = await records.outbox(GoalAgreed)
    assert proposed.proposed_by == "clinician"
    assert agreed_event.goal_id == proposed.goal_id == uuid.UUID(goal["id"])
    assert "statement" not in agreed_event.model_dump()


async def test_a_client_proposes_and_the_clinician_agrees(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    await records.relate(clinician, client)

    proposed = await records.http.post(
        "/v1/goals",
        json={
            "clinician_id": str(clinician),
            "statement": "Call my sister every Sunday",
            "target": "4 calls a month",
            "due_date": "2030-06-01",
        },
        headers=records.auth(client),
    )
    assert proposed.status_code == 201, proposed.text
    assert proposed.json()["proposed_by_role"] == "client"
    assert proposed.json()["due_date"] == "2030-06-01"
    agreed = await records.http.post(
        f"/v1/goals/{proposed.json()['id']}/agreement", headers=records.auth(clinician)
    )
    assert agreed.json()["status"] == "active"


async def test_a_stranger_cannot_agree_or_propose(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    stranger = await records.register("client")
    goal = await records.propose_goal(clinician, client)

    agree = await records.http.post(
        f"/v1/goals/{goal['id']}/agreement", headers=records.auth(stranger)
    )
    propose = await records.http.post(
        "/v1/goals",
        json={"clinician_id": str(clinician), "statement": "x"},
        headers=records.auth(stranger),
    )
    assert agree.status_code == 403
    assert propose.status_code == 422 and propose.json()["field"] == "clinician_id"


async def test_goal_status_uses_fhir_codes_and_only_the_clinician_sets_it(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    goal = await records.set_goal(clinician, client)
    url = f"/v1/goals/{goal['id']}"

    achieved = await records.http.patch(
        url, json={"achievement_status": "achieved"}, headers=records.auth(clinician)
    )
    by_client = await records.http.patch(
        url, json={"status": "completed"}, headers=records.auth(client)
    )
    bad = await records.http.patch(url, json={"status": "done"}, headers=records.auth(clinician))
    assert achieved.status_code == 200 and achieved.json()["achievement_status"] == "achieved"
    again = await records.http.patch(
        url, json={"achievement_status": "achieved"}, headers=records.auth(clinician)
    )
    assert again.status_code == 200
    [event] = await records.outbox(GoalAchieved)  # once, not again on a repeat
    assert event.goal_id == uuid.UUID(goal["id"])
    assert by_client.status_code == 403
    assert bad.status_code == 422 and "status" in bad.text


# Goal updates: separate reports, append-only corrections


async def _update(
    records: Records, user: uuid.UUID, goal: dict[str, Any], **body: Any
) -> dict[str, Any]:
    response = await records.http.post(
        f"/v1/goals/{goal['id']}/updates", json=body, headers=records.auth(user)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_each_side_reports_separately_and_a_correction_keeps_history(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    goal = await records.set_goal(clinician, client)

    mine = await _update(records, clinician, goal, progress=4, note="Clinician view")
    theirs = await _update(records, client, goal, progress=7, note="Felt good")
    fixed = await _update(
        records, clinician, goal, progress=5, note="Meant 5", corrects_id=mine["id"]
    )
    assert fixed["corrects_id"] == mine["id"]

    history = await records.http.get(
        f"/v1/goals/{goal['id']}/updates", headers=records.auth(clinician)
    )
    by_id = {u["id"]: u for u in history.json()}
    assert list(by_id) == [mine["id"], theirs["id"], fixed["id"]]
    assert by_id[mine["id"]]["entered_in_error"] is True
    assert by_id[mine["id"]]["progress"] == 4  # kept, only marked
    assert by_id[theirs["id"]]["entered_in_error"] is False
    assert by_id[theirs["id"]]["progress"] == 7  # the client's report is untouched

    # The client sees the clinician's ratings but not the clinician's notes.
    client_view = await records.http.get(
        f"/v1/goals/{goal['id']}/updates", headers=records.auth(client)
    )
    notes = {u["id"]: u["note"] for u in client_view.json()}
    assert notes == {mine["id"]: None, theirs["id"]: "Felt good", fixed["id"]: None}


async def test_a_correction_must_name_an_uncorrected_update_of_ones_own(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    goal = await records.set_goal(clinician, client)
    theirs = await _update(records, client, goal, progress=7, note="Mine")
    mine = await _update(records, clinician, goal, progress=3, note="x")
    await _update(records, clinician, goal, progress=4, note="y", corrects_id=mine["id"])

    for corrects_id in (theirs["id"], mine["id"], str(uuid.uuid4())):
        response = await records.http.post(
            f"/v1/goals/{goal['id']}/updates",
            json={"progress": 1, "note": "z", "corrects_id": corrects_id},
            headers=records.auth(clinician),
        )
        assert response.status_code == 422, corrects_id
        assert response.json()["field"] == "corrects_id"


async def test_out_of_range_progress_names_the_field(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    goal = await records.set_goal(clinician, client)
    for progress in (-1, 11, "5"):
        response = await records.http.post(
            f"/v1/goals/{goal['id']}/updates",
            json={"progress": progress, "note": ""},
            headers=records.auth(client),
        )
        assert response.status_code == 422
        assert "progress" in response.text


# Check-ins


def _outcome(*items: int) -> dict[str, Any]:
    names = ("individual", "interpersonal", "social", "overall")
    return {"kind": "outcome", **dict(zip(names, items, strict=True))}


def _session(*items: int) -> dict[str, Any]:
    names = ("relationship", "goals_and_topics", "approach", "overall")
    return {"kind": "session", **dict(zip(names, items, strict=True))}


async def test_check_ins_are_scored_and_flags_are_published(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    first = await records.booked_session(clinician, client)
    second = await records.booked_session(clinician, client, T0.replace(day=11))

    async def check_in(session_id: uuid.UUID, body: dict[str, Any]) -> dict[str, Any]:
        response = await records.http.post(
            f"/v1/sessions/{session_id}/check-ins", json=body, headers=records.auth(client)
        )
        assert response.status_code == 201, response.text
        return response.json()

    week1 = await check_in(first, _outcome(6, 6, 7, 6))  # 25: below the cutoff
    alliance1 = await check_in(first, _session(9, 9, 9, 9))  # 36, items 9: no concern
    week2 = await check_in(second, _outcome(8, 8, 7, 7))  # 30: +5, reliable change
    alliance2 = await check_in(second, _session(10, 10, 10, 8))  # an item 8: concern

    assert (week1["total"], week1["flags"]) == (25, ["below-cutoff"])
    assert (alliance1["total"], alliance1["flags"]) == (36, [])
    assert (week2["total"], week2["flags"]) == (30, ["reliable-change"])
    assert alliance2["flags"] == ["alliance-concern"]
    assert week2["items"] == {"individual": 8, "interpersonal": 8, "social": 7, "overall": 7}

    assert len(await records.outbox(CheckInSubmitted)) == 4
    [below] = await records.outbox(OutcomeBelowCutoff)
    [change] = await records.outbox(OutcomeReliableChange)
    [concern] = await records.outbox(AllianceConcernFlagged)
    assert (below.session_id, below.total) == (first, 25)
    assert (change.previous_total, change.change, change.total) == (25, 5, 30)
    assert (concern.session_id, concern.lowest_item, concern.total) == (second, 8, 38)

    listed = await records.http.get(
        f"/v1/sessions/{second}/check-ins", headers=records.auth(clinician)
    )
    assert [c["kind"] for c in listed.json()] == ["outcome", "session"]


async def test_check_in_rules(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    url = f"/v1/sessions/{session_id}/check-ins"

    by_clinician = await records.http.post(
        url, json=_outcome(5, 5, 5, 5), headers=records.auth(clinician)
    )
    out_of_range = await records.http.post(
        url, json=_session(11, 9, 9, 9), headers=records.auth(client)
    )
    unknown_kind = await records.http.post(
        url, json={"kind": "weekly", "overall": 5}, headers=records.auth(client)
    )
    unknown_session = await records.http.post(
        f"/v1/sessions/{uuid.uuid4()}/check-ins",
        json=_outcome(5, 5, 5, 5),
        headers=records.auth(client),
    )
    first = await records.http.post(url, json=_outcome(5, 5, 5, 5), headers=records.auth(client))
    again = await records.http.post(url, json=_outcome(6, 6, 6, 6), headers=records.auth(client))
    assert by_clinician.status_code == 403
    assert out_of_range.status_code == 422 and "relationship" in out_of_range.text
    assert unknown_kind.status_code == 422 and "kind" in unknown_kind.text
    assert unknown_session.status_code == 404
    assert first.status_code == 201
    assert again.status_code == 409 and again.json()["field"] == "kind"


# Notes


async def test_private_notes_stay_with_the_clinician(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)

    async def write(visibility: str, text: str) -> dict[str, Any]:
        response = await records.http.post(
            "/v1/notes",
            json={
                "client_id": str(client),
                "session_id": str(session_id),
                "visibility": visibility,
                "text": text,
            },
            headers=records.auth(clinician),
        )
        assert response.status_code == 201, response.text
        return response.json()

    await write("private", "PRIVATE-hypothesis about avoidance")
    shared = await write("shared", "Homework: a walk each morning")

    by_clinician = await records.http.get(
        "/v1/notes", params={"client_id": str(client)}, headers=records.auth(clinician)
    )
    by_client = await records.http.get("/v1/notes", headers=records.auth(client))
    assert [n["visibility"] for n in by_clinician.json()] == ["private", "shared"]
    assert [n["id"] for n in by_client.json()] == [shared["id"]]
    assert "PRIVATE" not in by_client.text
    assert all(b"PRIVATE" not in value for value in await records.outbox_values())


# Accepted invitations (identity's invitation.accepted)


def _accepted(clinician: uuid.UUID, client: uuid.UUID) -> InvitationAccepted:
    return InvitationAccepted(
        invitation_id=uuid.uuid4(), clinician_id=clinician, client_id=client, accepted_at=T0
    )


async def test_an_accepted_invitation_starts_the_relationship_both_parties_see(
    records: Records,
):
    clinician = await records.register("clinician")
    client = await records.register("client")

    await records.deliver(_accepted(clinician, client), source="/rapport/identity")

    [started] = await records.outbox(CareRelationshipStarted)
    assert (started.clinician_id, started.client_id) == (clinician, client)
    for user in (clinician, client):
        listed = await records.http.get("/v1/care-relationships", headers=records.auth(user))
        [relationship] = listed.json()
        assert relationship["id"] == str(started.relationship_id)
        assert relationship["started_via"] == "invitation"
        assert relationship["status"] == "active"
    created = [e for e in await records.audit_entries() if e.action == "create"]
    [entry] = [e for e in created if e.resource_type == "care_relationship"]
    assert (entry.resource_id, entry.actor_role, entry.actor_id) == (
        str(started.relationship_id),
        "system",
        None,
    )
    # The relationship is the one a booking or an explicit request would find.
    assert (await records.relate(clinician, client))["id"] == str(started.relationship_id)
    await records.booked_session(clinician, client)
    assert len(await records.outbox(CareRelationshipStarted)) == 1


async def test_a_repeated_acceptance_or_an_active_relationship_changes_nothing(
    records: Records,
):
    clinician = await records.register("clinician")
    client = await records.register("client")
    manual = await records.relate(clinician, client)
    audited = len(await records.audit_entries())
    accepted = _accepted(clinician, client)

    # Delivered twice as two events (the inbox would drop a redelivery of the same id).
    await records.deliver(accepted, accepted, source="/rapport/identity")

    listed = await records.http.get("/v1/care-relationships", headers=records.auth(client))
    assert [r["id"] for r in listed.json()] == [manual["id"]]
    assert listed.json()[0]["started_via"] == "clinician"
    assert len(await records.outbox(CareRelationshipStarted)) == 1
    # Only the listing just made was audited.
    assert len(await records.audit_entries()) == audited + 1


async def test_an_invitation_accepted_after_a_discharge_starts_a_new_relationship(
    records: Records,
):
    clinician = await records.register("clinician")
    client = await records.register("client")
    first = await records.relate(clinician, client)
    ended = await records.http.post(
        f"/v1/care-relationships/{first['id']}/discharge", headers=records.auth(clinician)
    )
    assert ended.status_code == 200, ended.text

    await records.deliver(_accepted(clinician, client), source="/rapport/identity")

    listed = await records.http.get("/v1/care-relationships", headers=records.auth(clinician))
    assert sorted((r["status"], r["started_via"]) for r in listed.json()) == [
        ("active", "invitation"),
        ("ended", "clinician"),
    ]
