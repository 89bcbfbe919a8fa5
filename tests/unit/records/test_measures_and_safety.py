"""Measures and safety through records' API: assignment, answering, the safety flag's life
(raised, acknowledged, escalated across a restart), the plan's versions, trends, caseload.

Events are read from the outbox, where the relay would pick them up; no item answer may be
in any of them.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from services.records.models import SafetyFlag
from services.records.timers import EscalationLoop
from shared.events.catalog import (
    MeasureCompleted,
    SafetyFlagAcknowledged,
    SafetyFlagEscalated,
    SafetyFlagRaised,
)
from tests.unit.records.conftest import Records, migrated_database, running_records

PHQ9_TEXT_MARKERS = ("better off dead", "hurting yourself", "44260-8")


def phq9(values: list[int | None]) -> dict[str, int | None]:
    return {f"phq-9.{n}": value for n, value in enumerate(values, 1)}


async def pair(records: Records) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A clinician, their client, and a booked session, with PHQ-9 and GAD-7 assigned."""
    clinician = await records.register("clinician")
    client = await records.register("client")
    await records.set_hours(clinician)
    session = await records.booked_session(clinician, client)
    for instrument in ("phq-9", "gad-7"):
        assigned = await records.http.put(
            f"/v1/clients/{client}/measure-assignments",
            json={"instrument": instrument, "cadence": "every-session"},
            headers=records.auth(clinician),
        )
        assert assigned.status_code == 200, assigned.text
    return clinician, client, session


async def answer(
    records: Records,
    client: uuid.UUID,
    session: uuid.UUID,
    answers: dict[str, Any],
    instrument: str = "phq-9",
) -> Any:
    return await records.http.post(
        f"/v1/sessions/{session}/measures",
        json={"instrument": instrument, "phase": "waiting", "answers": answers},
        headers=records.auth(client),
    )


async def test_the_questionnaires_are_served_as_fhir(records: Records):
    client = await records.register("client")
    listed = await records.http.get("/v1/measures", headers=records.auth(client))
    assert [i["code"] for i in listed.json()] == ["phq-9", "gad-7", "wai-sr"]
    phq = (await records.http.get("/v1/measures/phq-9", headers=records.auth(client))).json()
    assert phq["resourceType"] == "Questionnaire" and phq["version"] == "1.0.0"
    assert phq["code"][0]["code"] == "44249-1"
    missing = await records.http.get("/v1/measures/bdi-ii", headers=records.auth(client))
    assert missing.status_code == 404 and missing.json()["error"] == "UnknownInstrument"


async def test_a_client_answers_in_the_waiting_room_and_item_9_raises_a_flag(records: Records):
    clinician, client, session = await pair(records)
    due = await records.http.get(f"/v1/sessions/{session}/measures", headers=records.auth(client))
    assert [d["instrument"] for d in due.json()] == ["phq-9", "gad-7"]

    response = await answer(records, client, session, phq9([1, 1, 1, 1, 1, 1, 1, 1, 2]))

    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["total"], body["band"], body["safety_flag_raised"]) == (10, "moderate", True)
    due = await records.http.get(f"/v1/sessions/{session}/measures", headers=records.auth(client))
    assert [d["instrument"] for d in due.json()] == ["gad-7"]
    [completed] = await records.outbox(MeasureCompleted)
    assert (completed.instrument, completed.total, completed.band) == ("phq-9", 10, "moderate")
    [raised] = await records.outbox(SafetyFlagRaised)
    assert (raised.client_id, raised.clinician_id, raised.severity) == (client, clinician, "medium")
    assert raised.acknowledge_by - raised.raised_at == timedelta(minutes=240)
    flags = (await records.http.get("/v1/safety-flags", headers=records.auth(clinician))).json()
    assert [(f["id"], f["status"]) for f in flags] == [(str(raised.flag_id), "open")]


async def test_no_flag_when_item_9_is_zero_or_skipped(records: Records):
    clinician, client, session = await pair(records)
    response = await answer(records, client, session, phq9([3, 3, 3, 3, 3, 3, 3, None, None]))
    assert response.status_code == 201, response.text
    assert (response.json()["total"], response.json()["prorated"]) == (27, True)
    assert not response.json()["safety_flag_raised"]
    assert await records.outbox(SafetyFlagRaised) == []


@pytest.mark.parametrize(
    ("answers", "detail"),
    [
        (phq9([1, 1, 1, 1, 1, 1, None, None, None]), "3 of 9 items unanswered"),
        (phq9([1, 1, 1, 1, 1, 1, 1, 1, 4]), "phq-9.9: not an answer"),
        ({**phq9([0] * 9), "phq-9.10": 1}, "no item phq-9.10"),
    ],
)
async def test_an_unscorable_response_is_refused_with_the_reason(
    records: Records, answers: dict[str, Any], detail: str
):
    _, client, session = await pair(records)
    response = await answer(records, client, session, answers)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "UnscorableResponse"
    assert detail in response.json()["detail"]
    assert await records.outbox(MeasureCompleted) == []


async def test_answering_twice_or_unassigned_or_as_someone_else_is_refused(records: Records):
    clinician, client, session = await pair(records)
    assert (await answer(records, client, session, phq9([0] * 9))).status_code == 201
    again = await answer(records, client, session, phq9([0] * 9))
    assert (again.status_code, again.json()["error"]) == (409, "MeasureNotDue")
    wai = await answer(records, client, session, {}, instrument="wai-sr")
    assert (wai.status_code, wai.json()["error"]) == (422, "MeasureNotAssigned")
    by_clinician = await records.http.post(
        f"/v1/sessions/{session}/measures",
        json={"instrument": "gad-7", "phase": "after", "answers": {}},
        headers=records.auth(clinician),
    )
    assert by_clinician.status_code == 403


async def test_acknowledging_records_the_action_once(records: Records):
    clinician, client, session = await pair(records)
    await answer(records, client, session, phq9([0, 0, 0, 0, 0, 0, 0, 0, 1]))
    [flag] = (await records.http.get("/v1/safety-flags", headers=records.auth(clinician))).json()
    stranger = await records.register("clinician")
    refused = await records.http.post(
        f"/v1/safety-flags/{flag['id']}/acknowledgement",
        json={"action": "contacted"},
        headers=records.auth(stranger),
    )
    assert refused.status_code == 404

    acked = await records.http.post(
        f"/v1/safety-flags/{flag['id']}/acknowledgement",
        json={"action": "reviewed-in-session", "note": "NOTE-talked-it-through"},
        headers=records.auth(clinician),
    )

    assert acked.status_code == 200, acked.text
    assert (acked.json()["status"], acked.json()["action"]) == (
        "acknowledged",
        "reviewed-in-session",
    )
    assert (
        await records.http.get("/v1/safety-flags", headers=records.auth(clinician))
    ).json() == []
    [event] = await records.outbox(SafetyFlagAcknowledged)
    assert (event.action, event.acknowledged_by) == ("reviewed-in-session", clinician)
    twice = await records.http.post(
        f"/v1/safety-flags/{flag['id']}/acknowledgement",
        json={"action": "contacted"},
        headers=records.auth(clinician),
    )
    assert (twice.status_code, twice.json()["error"]) == (409, "FlagAlreadyAcknowledged")
    bad = await records.http.post(
        f"/v1/safety-flags/{flag['id']}/acknowledgement",
        json={"action": "ignored"},
        headers=records.auth(clinician),
    )
    assert bad.status_code == 422
    entries = await records.audit_entries()
    assert ("acknowledge", "safety_flag", flag["id"]) in {
        (e.action, e.resource_type, e.resource_id) for e in entries
    }
    assert ("read", "safety_flag", flag["id"]) in {
        (e.action, e.resource_type, e.resource_id) for e in entries
    }


async def test_an_unacknowledged_flag_escalates_to_the_on_call_across_a_restart(tmp_path: Path):
    url = await migrated_database(tmp_path)
    on_call = uuid.uuid4()
    async with running_records(url, safety_ack_minutes=5) as records:
        clinician, client, session = await pair(records)
        await answer(records, client, session, phq9([0, 0, 0, 0, 0, 0, 0, 0, 3]))
        [flag] = (
            await records.http.get("/v1/safety-flags", headers=records.auth(clinician))
        ).json()
        due_at = datetime.fromisoformat(flag["due_at"])
        # Not yet due: nothing escalates.
        early = EscalationLoop(
            records.database, on_call, clock=lambda: due_at - timedelta(seconds=1)
        )
        assert await early.tick() == 0

    # Records stopped and started again: the deadline is in the database, not in memory.
    async with running_records(url, safety_on_call_id=str(on_call)) as records:
        records.roles[on_call] = "admin"
        records.roles[clinician] = "clinician"
        loop = EscalationLoop(records.database, on_call, clock=lambda: due_at)
        assert await loop.tick() == 1
        assert await loop.tick() == 0  # once only

        [escalated] = await records.outbox(SafetyFlagEscalated)
        assert (escalated.flag_id, escalated.escalated_to, escalated.severity) == (
            uuid.UUID(flag["id"]),
            on_call,
            "high",
        )
        # Still on the clinician's dashboard, and now on the on-call's too.
        mine = (await records.http.get("/v1/safety-flags", headers=records.auth(clinician))).json()
        assert [f["status"] for f in mine] == ["escalated"]
        theirs = (await records.http.get("/v1/safety-flags", headers=records.auth(on_call))).json()
        assert [f["id"] for f in theirs] == [flag["id"]]
        other_admin = uuid.uuid4()
        assert (
            await records.http.get("/v1/safety-flags", headers=records.auth(other_admin, "admin"))
        ).json() == []
        acked = await records.http.post(
            f"/v1/safety-flags/{flag['id']}/acknowledgement",
            json={"action": "referred"},
            headers=records.auth(on_call),
        )
        assert acked.status_code == 200, acked.text
        assert (acked.json()["acknowledged_by"], acked.json()["status"]) == (
            str(on_call),
            "acknowledged",
        )
        entries = await records.audit_entries()
        assert ("escalate", "safety_flag", flag["id"], "system") in {
            (e.action, e.resource_type, e.resource_id, e.actor_role) for e in entries
        }
        async with records.database.unit_of_work() as db:
            stored = (await db.exec(select(SafetyFlag))).one()
        assert stored.escalated_at == due_at


async def test_no_item_answer_travels_in_an_event(records: Records):
    _, client, session = await pair(records)
    await answer(records, client, session, phq9([3, 2, 1, 0, 3, 2, 1, 0, 2]))
    await answer(records, client, session, {f"gad-7.{n}": 1 for n in range(1, 8)}, "gad-7")
    values = [json.loads(v) for v in await records.outbox_values()]
    assert values
    for value in values:
        text = json.dumps(value)
        assert "answers" not in text and "phq-9.9" not in text, text
        assert not any(marker in text for marker in PHQ9_TEXT_MARKERS), text


async def test_trends_reliable_change_recovery_and_the_caseload(records: Records):
    clinician, client, first = await pair(records)
    second = await records.booked_session(clinician, client, datetime(2030, 3, 11, 9, tzinfo=UTC))
    await answer(records, client, first, phq9([2, 2, 2, 2, 2, 2, 2, 2, 0]))  # 16
    await answer(records, client, first, {f"gad-7.{n}": 2 for n in range(1, 8)}, "gad-7")  # 14
    await answer(records, client, second, phq9([1, 1, 1, 1, 1, 1, 1, 1, 0]))  # 8
    await answer(records, client, second, {f"gad-7.{n}": 1 for n in range(1, 8)}, "gad-7")  # 7

    summary = await records.http.get(
        f"/v1/clients/{client}/measures/summary", headers=records.auth(client)
    )

    assert summary.status_code == 200, summary.text
    body = summary.json()
    assert [
        (t["instrument"], t["first_total"], t["latest_total"], t["change"]) for t in body["trends"]
    ] == [
        ("phq-9", 16, 8, "reliable-improvement"),
        ("gad-7", 14, 7, "reliable-improvement"),
    ]
    assert body["trends"][0]["bands"][0] == {"low": 0, "high": 4, "name": "minimal"}
    assert (body["recovered"], body["reliably_recovered"]) == (True, True)
    caseload = (
        await records.http.get("/v1/clinicians/me/caseload", headers=records.auth(clinician))
    ).json()
    [entry] = caseload["clients"]
    assert (entry["client_id"], entry["recovered"], entry["off_track"]) == (
        str(client),
        True,
        False,
    )
    assert entry["latest"]["phq-9"]["total"] == 8
    stranger = await records.register("clinician")
    refused = await records.http.get(
        f"/v1/clients/{client}/measures/summary", headers=records.auth(stranger)
    )
    assert refused.status_code == 403


async def test_the_safety_plan_is_versioned_and_visible_to_the_client(records: Records):
    clinician, client, _ = await pair(records)
    missing = await records.http.get(
        f"/v1/clients/{client}/safety-plan", headers=records.auth(client)
    )
    assert (missing.status_code, missing.json()["error"]) == (404, "SafetyPlanNotFound")
    first = await records.http.put(
        f"/v1/clients/{client}/safety-plan",
        json={"warning_signs": ["Not sleeping"], "people_to_ask_for_help": ["My sister"]},
        headers=records.auth(clinician),
    )
    second = await records.http.put(
        f"/v1/clients/{client}/safety-plan",
        json={"warning_signs": ["Not sleeping", "Skipping meals"]},
        headers=records.auth(client),
    )
    assert (first.json()["version"], second.json()["version"]) == (1, 2)
    latest = (
        await records.http.get(f"/v1/clients/{client}/safety-plan", headers=records.auth(client))
    ).json()
    assert latest["sections"]["warning_signs"] == ["Not sleeping", "Skipping meals"]
    assert latest["author_role"] == "client"
    old = (
        await records.http.get(
            f"/v1/clients/{client}/safety-plan",
            params={"version": 1},
            headers=records.auth(client),
        )
    ).json()
    assert old["sections"]["people_to_ask_for_help"] == ["My sister"]
    history = (
        await records.http.get(
            f"/v1/clients/{client}/safety-plan/versions", headers=records.auth(clinician)
        )
    ).json()
    assert [v["version"] for v in history] == [1, 2]
    other = await records.register("client")
    refused = await records.http.get(
        f"/v1/clients/{client}/safety-plan", headers=records.auth(other)
    )
    assert refused.status_code == 403
    unknown_heading = await records.http.put(
        f"/v1/clients/{client}/safety-plan",
        json={"reasons": ["x"]},
        headers=records.auth(client),
    )
    assert unknown_heading.status_code == 422
