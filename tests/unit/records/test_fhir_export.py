"""FHIR R4 export of a client with goals, sessions and check-ins."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import timedelta

from fhir.resources.R4B.bundle import Bundle

from shared.events.catalog import ParticipantJoined, ParticipantLeft, SessionEnded
from tests.fixtures.fhir_validator import FhirValidator
from tests.unit.records.conftest import T0, Records

NOTE = "NOTE-TEXT-never-exported"


async def _client_with_history(records: Records) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    await records.booked_session(clinician, client, T0 + timedelta(days=7))
    goal = await records.set_goal(clinician, client)
    await records.propose_goal(clinician, client, "Run 5 km")
    await records.http.patch(
        f"/v1/goals/{goal['id']}",
        json={"achievement_status": "improving"},
        headers=records.auth(clinician),
    )
    for author in (clinician, client):
        response = await records.http.post(
            f"/v1/goals/{goal['id']}/updates",
            json={"session_id": str(session_id), "progress": 6, "note": NOTE},
            headers=records.auth(author),
        )
        assert response.status_code == 201
    for visibility in ("private", "shared"):
        await records.http.post(
            "/v1/notes",
            json={"client_id": str(client), "visibility": visibility, "text": NOTE},
            headers=records.auth(clinician),
        )
    for body in (
        {"kind": "outcome", "individual": 5, "interpersonal": 6, "social": 7, "overall": 5},
        {"kind": "session", "relationship": 9, "goals_and_topics": 9, "approach": 8, "overall": 9},
    ):
        response = await records.http.post(
            f"/v1/sessions/{session_id}/check-ins", json=body, headers=records.auth(client)
        )
        assert response.status_code == 201
    joined, ended = T0 + timedelta(minutes=1), T0 + timedelta(minutes=46)
    await records.deliver(
        ParticipantJoined(session_id=session_id, user_id=client, role="client", at=joined),
        ParticipantJoined(session_id=session_id, user_id=clinician, role="clinician", at=joined),
        ParticipantLeft(session_id=session_id, user_id=client, role="client", at=ended),
        SessionEnded(session_id=session_id, ended_by=clinician, reason="ended", at=ended),
    )
    return clinician, client, session_id


async def test_the_export_is_a_valid_fhir_r4_bundle(
    records: Records, fhir_validator: FhirValidator
):
    clinician, client, session_id = await _client_with_history(records)

    response = await records.http.get(f"/v1/clients/{client}/fhir", headers=records.auth(clinician))

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    # FHIR R4 (4.0.1) itself, as HAPI's validator reads it.
    errors = fhir_validator.errors(response.text)
    assert not errors, "\n".join(f"{e.location}: {e.message}" for e in errors)
    # Parsed again from the wire by the FHIR models: an invalid resource raises here.
    bundle = Bundle.model_validate_json(response.content)
    assert bundle.type == "collection"
    resources = [entry.resource for entry in bundle.entry]
    kinds = Counter(r.get_resource_type() for r in resources)
    assert kinds == {
        "Patient": 1,
        "Appointment": 2,
        "Encounter": 2,
        "Goal": 2,
        "CarePlan": 1,
        "QuestionnaireResponse": 2,
    }
    by_id = {r.id: r for r in resources}
    encounter = by_id[str(session_id)]
    assert encounter.class_fhir.code == "VR"
    assert encounter.status == "finished"
    assert encounter.length.value == 45 * 60
    goals = [r for r in resources if r.get_resource_type() == "Goal"]
    assert sorted(g.lifecycleStatus for g in goals) == ["active", "proposed"]
    [care_plan] = [r for r in resources if r.get_resource_type() == "CarePlan"]
    assert len(care_plan.goal) == 2
    outcome = next(
        r
        for r in resources
        if r.get_resource_type() == "QuestionnaireResponse" and "outcome" in r.questionnaire
    )
    answers = {item.linkId: item.answer[0].valueInteger for item in outcome.item}
    assert answers == {"individual": 5, "interpersonal": 6, "social": 7, "overall": 5, "total": 23}
    # Every reference points at an entry of the bundle.
    full_urls = {entry.fullUrl for entry in bundle.entry}
    references = _references(json.loads(response.content))
    assert references and references <= full_urls
    assert NOTE not in response.text


def _references(value: object) -> set[str]:
    if isinstance(value, dict):
        found = {value["reference"]} if isinstance(value.get("reference"), str) else set()
        return found.union(*(_references(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value))
    return set()


async def test_who_may_export(records: Records):
    clinician, client, _ = await _client_with_history(records)
    stranger = await records.register("clinician")
    url = f"/v1/clients/{client}/fhir"
    every_read = "appointments:read sessions:read goals:read"

    def partner(scopes: str, *clinicians: uuid.UUID) -> dict[str, str]:
        token = records.issuer.issue(
            "pa_ehr1", "partner", scopes=scopes, clinicians=[str(c) for c in clinicians]
        )
        return {"Authorization": f"Bearer {token}"}

    # The export has a scope of its own: fhir:read alone suffices, the other reads do not.
    scoped = await records.http.get(url, headers=partner("fhir:read", clinician))
    reads_only = await records.http.get(url, headers=partner(every_read, clinician))
    other_clinic = await records.http.get(url, headers=partner("fhir:read", stranger))
    other = await records.http.get(url, headers=records.auth(stranger))
    own_client = await records.http.get(url, headers=records.auth(client))
    unknown = await records.http.get(
        f"/v1/clients/{uuid.uuid4()}/fhir", headers=partner("fhir:read", clinician)
    )
    assert scoped.status_code == 200
    assert NOTE not in scoped.text
    Bundle.model_validate_json(scoped.content)
    assert reads_only.status_code == 403 and "fhir:read" in reads_only.json()["detail"]
    assert (other_clinic.status_code, other.status_code, own_client.status_code) == (403, 403, 403)
    # An unknown client and another clinic's client get the same answer.
    assert unknown.status_code == 403
    # The partner's export is audited under its client id.
    exports = [e for e in await records.audit_entries() if e.actor_subject == "pa_ehr1"]
    assert {e.action for e in exports} == {"export"} and exports[0].actor_role == "partner"
    assert {e.resource_type for e in exports} >= {"appointment", "session_record", "goal"}


async def test_consent_signatures_are_exported_as_fhir_consent(
    records: Records, fhir_validator: FhirValidator
):
    admin = await records.register("admin")
    clinician = await records.register("clinician")
    client = await records.register("client")
    await records.relate(clinician, client)
    signed = []
    for version in (1, 2):
        document = await records.http.post(
            "/v1/consent/documents",
            json={
                "title": "Telehealth consent",
                "text": f"CONSENT-TEXT-{version}",
                "version": version,
            },
            headers=records.auth(admin),
        )
        body = document.json()
        signature = await records.http.post(
            "/v1/consent/signatures",
            json={
                "document_id": body["id"],
                "version": version,
                "sha256": body["sha256"],
                "typed_name": "TYPED-NAME Rivera",
            },
            headers=records.auth(client),
        )
        assert signature.status_code == 201, signature.text
        signed.append(signature.json()["id"])
    withdrawn = await records.http.post("/v1/consent/withdrawal", headers=records.auth(client))
    assert withdrawn.status_code == 200

    response = await records.http.get(f"/v1/clients/{client}/fhir", headers=records.auth(clinician))

    assert response.status_code == 200, response.text
    errors = fhir_validator.errors(response.text)
    assert not errors, "\n".join(f"{e.location}: {e.message}" for e in errors)
    consents = {
        entry["resource"]["id"]: entry["resource"]
        for entry in response.json()["entry"]
        if entry["resource"]["resourceType"] == "Consent"
    }
    assert set(consents) == set(signed)
    first, second = consents[signed[0]], consents[signed[1]]
    # The first was superseded by the second, which the client then withdrew.
    assert first["status"] == second["status"] == "inactive"
    assert first["provision"]["period"]["end"] == second["provision"]["period"]["start"]
    assert "end" in second["provision"]["period"]
    assert "version 2" in second["sourceAttachment"]["title"]
    assert "TYPED-NAME" not in response.text
    assert "CONSENT-TEXT" not in response.text
