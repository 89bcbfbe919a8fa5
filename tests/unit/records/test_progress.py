"""Progress data for charts: per session, both sides' goal ratings, check-in totals, flags."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from tests.unit.records.conftest import T0, Records


async def _rate(
    records: Records, user: uuid.UUID, goal: dict[str, Any], session_id: uuid.UUID, progress: int
) -> dict[str, Any]:
    response = await records.http.post(
        f"/v1/goals/{goal['id']}/updates",
        json={"session_id": str(session_id), "progress": progress, "note": ""},
        headers=records.auth(user),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_progress_per_session_from_both_perspectives(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    sessions = [
        await records.booked_session(clinician, client, T0 + timedelta(days=7 * i))
        for i in range(3)
    ]
    goal = await records.set_goal(clinician, client)
    await _rate(records, clinician, goal, sessions[0], 3)
    await _rate(records, client, goal, sessions[0], 5)
    wrong = await _rate(records, clinician, goal, sessions[1], 9)
    response = await records.http.post(
        f"/v1/goals/{goal['id']}/updates",
        json={
            "session_id": str(sessions[1]),
            "progress": 6,
            "note": "",
            "corrects_id": wrong["id"],
        },
        headers=records.auth(clinician),
    )
    assert response.status_code == 201
    await records.http.post(
        f"/v1/sessions/{sessions[0]}/check-ins",
        json={"kind": "outcome", "individual": 6, "interpersonal": 6, "social": 6, "overall": 6},
        headers=records.auth(client),
    )

    first_page = await records.http.get(
        f"/v1/clients/{client}/progress", params={"limit": 2}, headers=records.auth(clinician)
    )
    assert first_page.status_code == 200, first_page.text
    body = first_page.json()
    assert body["next_offset"] == 2
    one, two = body["items"]
    assert one["goals"] == [{"goal_id": goal["id"], "clinician": 3, "client": 5}]
    assert (one["outcome_total"], one["flags"]) == (24, ["below-cutoff"])
    assert two["goals"] == [{"goal_id": goal["id"], "clinician": 6, "client": None}]
    last_page = await records.http.get(
        f"/v1/clients/{client}/progress",
        params={"limit": 2, "offset": 2},
        headers=records.auth(client),
    )
    assert [i["session_id"] for i in last_page.json()["items"]] == [str(sessions[2])]
    assert last_page.json()["next_offset"] is None

    window = await records.http.get(
        f"/v1/clients/{client}/progress",
        params={
            "from": (T0 + timedelta(days=1)).isoformat(),
            "to": (T0 + timedelta(days=8)).isoformat(),
        },
        headers=records.auth(client),
    )
    assert [i["session_id"] for i in window.json()["items"]] == [str(sessions[1])]


async def test_progress_is_for_the_client_and_their_clinicians(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    stranger = await records.register("clinician")
    other_client = await records.register("client")
    await records.booked_session(clinician, client)
    url = f"/v1/clients/{client}/progress"

    by_stranger = await records.http.get(url, headers=records.auth(stranger))
    by_other_client = await records.http.get(url, headers=records.auth(other_client))
    bad_limit = await records.http.get(url, params={"limit": 0}, headers=records.auth(client))
    naive = await records.http.get(
        url, params={"from": "2030-01-01T00:00:00"}, headers=records.auth(client)
    )
    assert by_stranger.json()["items"] == []  # only their own sessions with the client
    assert by_other_client.status_code == 403
    assert bad_limit.status_code == 422 and "limit" in bad_limit.text
    assert naive.status_code == 422 and "from" in naive.text
