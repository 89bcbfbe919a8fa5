"""Partner apps read only the records of the clinicians who granted them access, and every
read is audited under the app's client id. What each scope shows them is the generated test
in ``test_partner_scopes.py``."""

from __future__ import annotations

import uuid
from typing import Any

from tests.unit.records.conftest import Records

READS = "appointments:read sessions:read goals:read"
UPDATE_NOTE = "CLINICIAN-NOTE-for-the-partner-to-never-see"


def _partner(records: Records, clinicians: Any, scopes: str = READS) -> dict[str, str]:
    token = records.issuer.issue("pa_ehr", "partner", scopes=scopes, clinicians=clinicians)
    return {"Authorization": f"Bearer {token}"}


async def _world(records: Records) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, dict[str, Any]]:
    clinician = await records.register("clinician")
    client = await records.register("client")
    session = await records.booked_session(clinician, client)
    goal = await records.set_goal(clinician, client)
    for author, note in ((clinician, UPDATE_NOTE), (client, "the client's own words")):
        response = await records.http.post(
            f"/v1/goals/{goal['id']}/updates",
            json={"session_id": str(session), "progress": 6, "note": note},
            headers=records.auth(author),
        )
        assert response.status_code == 201
    return clinician, client, session, goal


async def test_every_partner_read_is_audited_under_its_client_id(records: Records):
    clinician, _, session, goal = await _world(records)
    partner = _partner(records, [str(clinician)])
    before = len(await records.audit_entries())

    await records.http.get(f"/v1/sessions/{session}", headers=partner)
    await records.http.get(f"/v1/goals/{goal['id']}/updates", headers=partner)
    await records.http.get("/v1/appointments", headers=partner)

    entries = (await records.audit_entries())[before:]
    assert entries and all(e.actor_subject == "pa_ehr" for e in entries)
    assert {(e.actor_role, e.actor_id, e.action) for e in entries} == {("partner", None, "read")}
    assert {e.resource_type for e in entries} == {"session_record", "goal_update", "appointment"}
    assert str(session) in {e.resource_id for e in entries}


async def test_a_partner_sees_nothing_of_clinicians_who_did_not_grant_it(records: Records):
    clinician, client, session, goal = await _world(records)
    others = [str(uuid.uuid4())]

    for claim in (others, [], "not-a-list", ["not-a-uuid"], None):
        partner = _partner(records, claim)
        assert (
            await records.http.get(f"/v1/sessions/{session}", headers=partner)
        ).status_code == 403
        assert (await records.http.get("/v1/goals", headers=partner)).json() == []
        assert (await records.http.get("/v1/appointments", headers=partner)).json() == []
        progress = await records.http.get(f"/v1/clients/{client}/progress", headers=partner)
        assert progress.json()["items"] == []
        fhir = await records.http.get(f"/v1/clients/{client}/fhir", headers=partner)
        assert fhir.status_code == 403
