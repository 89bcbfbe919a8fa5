"""Values: client-authored, revised over time with history kept, and served by goals."""

from __future__ import annotations

import uuid

from tests.unit.records.conftest import Records


async def test_a_client_revises_a_value_and_a_goal_serves_the_current_one(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    await records.relate(clinician, client)

    first = await records.http.post(
        "/v1/values", json={"statement": "Being there for my kids"}, headers=records.auth(client)
    )
    revised = await records.http.post(
        "/v1/values",
        json={"statement": "Being present with my family", "supersedes_id": first.json()["id"]},
        headers=records.auth(client),
    )
    assert (first.status_code, revised.status_code) == (201, 201)

    history = await records.http.get(
        "/v1/values", params={"client_id": str(client)}, headers=records.auth(clinician)
    )
    by_id = {v["id"]: v for v in history.json()}
    assert by_id[first.json()["id"]]["superseded_at"] is not None
    assert by_id[revised.json()["id"]]["supersedes_id"] == first.json()["id"]

    def goal(value_id: str) -> dict[str, str]:
        return {"client_id": str(client), "statement": "Dinner together", "value_id": value_id}

    stale = await records.http.post(
        "/v1/goals", json=goal(first.json()["id"]), headers=records.auth(clinician)
    )
    current = await records.http.post(
        "/v1/goals", json=goal(revised.json()["id"]), headers=records.auth(clinician)
    )
    assert stale.status_code == 422 and stale.json()["field"] == "value_id"
    assert current.status_code == 201 and current.json()["value_id"] == revised.json()["id"]


async def test_values_belong_to_the_client(records: Records):
    clinician = await records.register("clinician")
    client = await records.register("client")
    other = await records.register("client")
    mine = await records.http.post(
        "/v1/values", json={"statement": "Honesty"}, headers=records.auth(client)
    )

    by_clinician = await records.http.post(
        "/v1/values", json={"statement": "x"}, headers=records.auth(clinician)
    )
    hijack = await records.http.post(
        "/v1/values",
        json={"statement": "x", "supersedes_id": mine.json()["id"]},
        headers=records.auth(other),
    )
    peek = await records.http.get(
        "/v1/values", params={"client_id": str(client)}, headers=records.auth(other)
    )
    uncared = await records.http.get(
        "/v1/values", params={"client_id": str(client)}, headers=records.auth(clinician)
    )
    unknown = await records.http.post(
        "/v1/values",
        json={"statement": "x", "supersedes_id": str(uuid.uuid4())},
        headers=records.auth(client),
    )
    assert by_clinician.status_code == 403
    assert hijack.status_code == 422 and hijack.json()["field"] == "supersedes_id"
    assert peek.status_code == 403
    assert uncared.status_code == 422 and uncared.json()["field"] == "client_id"
    assert unknown.status_code == 422
