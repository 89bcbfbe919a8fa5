"""Planned discontinuation: ending criteria, the readiness summary, active -> ending ->
completed with events."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from shared.events.catalog import PlanCompleted, PlanEndingStarted
from tests.unit.records.conftest import T0, Records


async def _check_in(records: Records, client: uuid.UUID, session_id: uuid.UUID, **body: Any):
    response = await records.http.post(
        f"/v1/sessions/{session_id}/check-ins", json=body, headers=records.auth(client)
    )
    assert response.status_code == 201, response.text


def _outcome(total_each: int) -> dict[str, Any]:
    return {
        "kind": "outcome",
        "individual": total_each,
        "interpersonal": total_each,
        "social": total_each,
        "overall": total_each,
    }


def _session(*items: int) -> dict[str, Any]:
    names = ("relationship", "goals_and_topics", "approach", "overall")
    return {"kind": "session", **dict(zip(names, items, strict=True))}


async def test_readiness_and_the_planned_end(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    sessions = [
        await records.booked_session(clinician, client, T0 + timedelta(days=7 * i))
        for i in range(2)
    ]
    goal = await records.set_goal(clinician, client)
    [relationship] = (
        await records.http.get("/v1/care-relationships", headers=records.auth(clinician))
    ).json()
    plan = f"/v1/care-relationships/{relationship['id']}/plan"
    readiness_url = f"/v1/care-relationships/{relationship['id']}/readiness"

    criteria = await records.http.patch(
        plan,
        json={"ending_criteria": "Sleeping 7h most nights for a month"},
        headers=records.auth(clinician),
    )
    assert criteria.status_code == 200
    assert criteria.json()["ending_criteria"].startswith("Sleeping")

    async def readiness() -> dict[str, Any]:
        response = await records.http.get(readiness_url, headers=records.auth(client))
        assert response.status_code == 200, response.text
        return response.json()

    assert (await readiness())["ready"] is False  # nothing measured yet

    await _check_in(records, client, sessions[0], **_outcome(7))  # 28: above the cutoff
    await _check_in(records, client, sessions[0], **_session(10, 10, 10, 8))  # a concern
    await records.http.patch(
        f"/v1/goals/{goal['id']}",
        json={"achievement_status": "achieved"},
        headers=records.auth(clinician),
    )
    summary = await readiness()
    assert summary["goals_total"] == 1 and summary["goals_achieved_or_sustaining"] == 1
    assert summary["recent_outcomes_above_cutoff"] is True
    assert summary["open_alliance_concern"] is True
    assert summary["ready"] is False

    await _check_in(records, client, sessions[1], **_outcome(8))
    await _check_in(records, client, sessions[1], **_session(10, 10, 10, 10))  # resolved
    summary = await readiness()
    assert summary["recent_outcome_totals"] == [32, 28]
    assert summary["open_alliance_concern"] is False
    assert summary["ready"] is True

    skip = await records.http.patch(
        plan, json={"plan_status": "completed"}, headers=records.auth(clinician)
    )
    by_client = await records.http.patch(
        plan, json={"plan_status": "ending"}, headers=records.auth(client)
    )
    assert skip.status_code == 409 and skip.json()["field"] == "plan_status"
    assert by_client.status_code == 403

    ending = await records.http.patch(
        plan, json={"plan_status": "ending"}, headers=records.auth(clinician)
    )
    completed = await records.http.patch(
        plan, json={"plan_status": "completed"}, headers=records.auth(clinician)
    )
    after = await records.http.patch(
        plan, json={"ending_criteria": "x"}, headers=records.auth(clinician)
    )
    assert ending.json()["plan_status"] == "ending"
    assert completed.json()["plan_status"] == "completed"
    assert completed.json()["status"] == "ended"
    assert after.status_code == 409
    [started] = await records.outbox(PlanEndingStarted)
    [done] = await records.outbox(PlanCompleted)
    assert started.ready is True and done.relationship_id == uuid.UUID(relationship["id"])


async def test_a_low_outcome_blocks_readiness(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    goal = await records.set_goal(clinician, client)
    await records.http.patch(
        f"/v1/goals/{goal['id']}",
        json={"achievement_status": "sustaining"},
        headers=records.auth(clinician),
    )
    await _check_in(records, client, session_id, **{**_outcome(6), "overall": 7})  # 25
    [relationship] = (
        await records.http.get("/v1/care-relationships", headers=records.auth(client))
    ).json()
    summary = (
        await records.http.get(
            f"/v1/care-relationships/{relationship['id']}/readiness",
            headers=records.auth(clinician),
        )
    ).json()
    assert summary["recent_outcome_totals"] == [25]
    assert summary["recent_outcomes_above_cutoff"] is False
    assert summary["ready"] is False
