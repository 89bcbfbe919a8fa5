"""The FHIR R4 REST API at /fhir: reads, searches (patient, date, status, _lastUpdated, _count
paging with next links), the CapabilityStatement and OperationOutcome errors, every answer
checked against FHIR R4 (4.0.1) by HAPI FHIR's instance validator, not by our own code."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.records.models import Appointment
from shared.events.catalog import ParticipantJoined, ParticipantLeft, SessionEnded
from tests.fixtures.fhir_validator import FhirValidator
from tests.unit.records.clinical_world import (
    CLIENT_UPDATE_NOTE,
    CLINICIAN_UPDATE_NOTE,
    PRIVATE_NOTE,
    World,
    build_world,
)
from tests.unit.records.conftest import T0, Records

FHIR_JSON = "application/fhir+json"
BASE = "http://127.0.0.1:8000/fhir"
TYPES = (
    "Patient",
    "Appointment",
    "Encounter",
    "Goal",
    "CarePlan",
    "QuestionnaireResponse",
    "Observation",
)


async def _world(records: Records) -> World:
    world = await build_world(records)
    session, A, a = uuid.UUID(world.ids["session"]), world.user("A"), world.user("a")
    joined, ended = T0 + timedelta(minutes=1), T0 + timedelta(minutes=46)
    await records.deliver(
        ParticipantJoined(session_id=session, user_id=a, role="client", at=joined),
        ParticipantJoined(session_id=session, user_id=A, role="clinician", at=joined),
        ParticipantLeft(session_id=session, user_id=a, role="client", at=ended),
        SessionEnded(session_id=session, ended_by=A, reason="ended", at=ended),
    )
    return world


async def _get(
    records: Records, headers: dict[str, str], path: str, **params: Any
) -> httpx.Response:
    return await records.http.get(path, params=params or None, headers=headers)


def _fhir(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    body: dict[str, Any] = response.json()
    return body


def _valid(validator: FhirValidator, resource: dict[str, Any]) -> None:
    errors = validator.errors(resource)
    assert not errors, "\n".join(f"{e.location}: {e.message}" for e in errors)


async def test_every_type_searched_by_patient_is_valid_fhir_r4(
    records: Records, fhir_validator: FhirValidator
) -> None:
    world = await _world(records)
    clinician = records.auth(world.user("A"))
    expected = {
        "Patient": 1,
        "Appointment": 3,
        "Encounter": 3,
        "Goal": 2,
        "CarePlan": 1,
        "QuestionnaireResponse": 2,
        "Observation": 2,
    }
    for resource_type in TYPES:
        params = (
            {"_id": world.ids["a"]} if resource_type == "Patient" else {"patient": world.ids["a"]}
        )
        bundle = _fhir(await _get(records, clinician, f"/fhir/{resource_type}", **params))
        _valid(fhir_validator, bundle)
        assert bundle["type"] == "searchset"
        assert bundle["total"] == expected[resource_type], resource_type
        resources = [entry["resource"] for entry in bundle["entry"]]
        assert {r["resourceType"] for r in resources} == {resource_type}
        for entry in bundle["entry"]:
            resource = entry["resource"]
            assert entry["fullUrl"] == f"{BASE}/{resource_type}/{resource['id']}"
            assert "lastUpdated" in resource["meta"]
            # Each one read on its own is the same resource, valid on its own too.
            read = _fhir(await _get(records, clinician, f"/fhir/{resource_type}/{resource['id']}"))
            assert read == resource
        _valid(fhir_validator, resources[0])
        # Notes never leave: not the private note, not goal-update note text.
        for text in (PRIVATE_NOTE, CLINICIAN_UPDATE_NOTE, CLIENT_UPDATE_NOTE):
            assert text not in str(bundle)


async def test_the_finished_encounter_and_goal_ratings(records: Records) -> None:
    world = await _world(records)
    clinician = records.auth(world.user("A"))
    encounter = _fhir(await _get(records, clinician, f"/fhir/Encounter/{world.ids['session']}"))
    assert encounter["status"] == "finished"
    assert encounter["class"]["code"] == "VR"
    assert encounter["length"]["value"] == 45 * 60
    assert encounter["appointment"] == [{"reference": f"Appointment/{world.ids['appointment']}"}]
    rating = _fhir(
        await _get(records, clinician, f"/fhir/Observation/{world.ids['client_update']}")
    )
    assert rating["valueInteger"] == 5
    assert rating["focus"] == [{"reference": f"Goal/{world.ids['goal']}"}]
    assert rating["encounter"] == {"reference": f"Encounter/{world.ids['session']}"}
    assert rating["performer"] == [{"reference": f"Patient/{world.ids['a']}"}]


async def test_the_capability_statement_is_valid_and_public(
    records: Records, fhir_validator: FhirValidator
) -> None:
    statement = _fhir(await records.http.get("/fhir/metadata"))
    _valid(fhir_validator, statement)
    assert statement["fhirVersion"] == "4.0.1"
    [rest] = statement["rest"]
    served = {r["type"]: r for r in rest["resource"]}
    assert set(served) == set(TYPES)
    goal_params = {p["name"] for p in served["Goal"]["searchParam"]}
    assert goal_params == {"_id", "_lastUpdated", "patient", "start-date", "lifecycle-status"}


async def test_count_pages_with_next_links_to_the_end(
    records: Records, fhir_validator: FhirValidator
) -> None:
    world = await _world(records)
    clinician = records.auth(world.user("A"))
    seen: list[str] = []
    url: str | None = f"{BASE}/Appointment?patient={world.ids['a']}&_count=2"
    pages = 0
    while url is not None:
        assert url.startswith(BASE)
        page = _fhir(
            await records.http.get(url.removeprefix("http://127.0.0.1:8000"), headers=clinician)
        )
        _valid(fhir_validator, page)
        pages += 1
        assert page["total"] == 3
        seen += [entry["resource"]["id"] for entry in page["entry"]]
        links = {link["relation"]: link["url"] for link in page["link"]}
        assert "_count=2" in links["self"]
        url = links.get("next")
    assert pages == 2
    assert len(seen) == len(set(seen)) == 3


async def test_pages_neither_skip_nor_repeat_an_appointment_moved_while_paging(
    records: Records,
) -> None:
    """A partner pages through a client's appointments while the clinician moves one: the
    order of the pages must not depend on what can change, or the moved one is skipped."""
    world = await _world(records)
    clinician = records.auth(world.user("A"))
    patient = world.ids["a"]
    everything = _fhir(await _get(records, clinician, "/fhir/Appointment", patient=patient))
    all_ids = {entry["resource"]["id"] for entry in everything["entry"]}
    first = _fhir(await _get(records, clinician, "/fhir/Appointment", patient=patient, _count=2))
    seen = [entry["resource"]["id"] for entry in first["entry"]]
    # The one not on the first page is moved a year earlier, ahead of everything.
    [unseen] = all_ids - set(seen)
    async with records.database.unit_of_work() as db:
        appointment = await db.get(Appointment, uuid.UUID(unseen))
        assert appointment is not None
        appointment.starts_at -= timedelta(days=365)
        appointment.ends_at -= timedelta(days=365)
        db.add(appointment)
    links = {link["relation"]: link["url"] for link in first["link"]}
    second = _fhir(
        await records.http.get(
            links["next"].removeprefix("http://127.0.0.1:8000"), headers=clinician
        )
    )
    seen += [entry["resource"]["id"] for entry in second["entry"]]
    assert len(seen) == len(set(seen))
    assert set(seen) == all_ids


async def test_search_by_date_status_and_last_updated(records: Records) -> None:
    world = await _world(records)
    clinician = records.auth(world.user("A"))
    a = world.ids["a"]

    async def ids(resource_type: str, **params: str) -> set[str]:
        bundle = _fhir(
            await _get(records, clinician, f"/fhir/{resource_type}", patient=a, **params)
        )
        return {entry["resource"]["id"] for entry in bundle.get("entry", [])}

    # The world's appointments: T0 (done), T0 + 1 day, and one begun minutes ago.
    first_two = {world.ids["appointment"], world.ids["appointment_to_move"]}
    assert await ids("Appointment", date="2030-03-04") == {world.ids["appointment"]}
    window = await ids("Appointment", date=["ge2030-03-04", "lt2030-03-06"])  # type: ignore[arg-type]
    assert window == first_two
    assert await ids("Appointment", date="gt2030-03-05T09:00:00Z") == set()
    assert await ids("Encounter", status="finished") == {world.ids["session"]}
    assert await ids("Goal", **{"lifecycle-status": "proposed"}) == {world.ids["proposed_goal"]}
    assert await ids("Goal", **{"lifecycle-status": "active,proposed"}) == {
        world.ids["goal"],
        world.ids["proposed_goal"],
    }
    assert await ids("Observation", status="entered-in-error") == set()

    moving = world.ids["appointment_to_move"]
    listed = _fhir(await _get(records, clinician, "/fhir/Appointment", patient=a))
    latest = max(entry["resource"]["meta"]["lastUpdated"] for entry in listed["entry"])
    assert await ids("Appointment", _lastUpdated=f"gt{latest}") == set()
    cancelled = await records.http.post(f"/v1/appointments/{moving}/cancel", headers=clinician)
    assert cancelled.status_code == 200, cancelled.text
    after = _fhir(await _get(records, clinician, f"/fhir/Appointment/{moving}"))
    assert after["status"] == "cancelled"
    assert after["meta"]["lastUpdated"] > latest
    # Only what changed since: the cancelled appointment.
    assert await ids("Appointment", _lastUpdated=f"gt{latest}") == {moving}
    assert await ids("Appointment", status="cancelled") == {world.ids["appointment_to_move"]}


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/fhir/Goal", {"colour": "blue"}, 400, "invalid"),
        ("/fhir/Goal", {"start-date": "sa2030"}, 400, "invalid"),
        ("/fhir/Goal", {"_count": "0"}, 400, "invalid"),
        ("/fhir/Goal", {"patient": "not-a-uuid"}, 400, "invalid"),
        ("/fhir/Goal", {"_format": "xml"}, 406, "not-supported"),
        ("/fhir/Goal/not-a-uuid", {}, 400, "invalid"),
        ("/fhir/Medication", {}, 404, "not-found"),
        (f"/fhir/Goal/{uuid.uuid4()}", {}, 404, "not-found"),
    ],
)
async def test_errors_are_operation_outcomes(
    records: Records,
    fhir_validator: FhirValidator,
    path: str,
    params: dict[str, str],
    status: int,
    code: str,
) -> None:
    clinician = await records.register("clinician")
    outcome = _fhir(await _get(records, records.auth(clinician), path, **params), status)
    _valid(fhir_validator, outcome)
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == code
    assert outcome["issue"][0]["diagnostics"]


async def test_without_a_token_the_answer_is_an_operation_outcome(records: Records) -> None:
    outcome = _fhir(await records.http.get("/fhir/Goal"), 401)
    assert outcome["issue"][0]["code"] == "login"


async def test_a_partner_reads_what_its_smart_scopes_map_to(
    records: Records, fhir_validator: FhirValidator
) -> None:
    world = await _world(records)

    def partner(scopes: str) -> dict[str, str]:
        token = records.issuer.issue(
            "pa_fhir", "partner", scopes=scopes, clinicians=[world.ids["A"]]
        )
        return {"Authorization": f"Bearer {token}"}

    goals = partner("goals:read")  # what system/Goal.rs maps to
    bundle = _fhir(await _get(records, goals, "/fhir/Goal", patient=world.ids["a"]))
    assert bundle["total"] == 2
    ratings = _fhir(await _get(records, goals, "/fhir/Observation", patient=world.ids["a"]))
    assert ratings["total"] == 2
    _valid(fhir_validator, ratings)
    refused = _fhir(await _get(records, goals, "/fhir/Appointment"), 403)
    assert refused["issue"][0]["code"] == "forbidden"
    assert "appointments:read" in refused["issue"][0]["diagnostics"]
    # Check-ins are never a partner's, whatever its scopes.
    every = partner("appointments:read sessions:read goals:read fhir:read")
    _fhir(await _get(records, every, "/fhir/QuestionnaireResponse"), 403)
    patients = _fhir(await _get(records, every, "/fhir/Patient"))
    assert {e["resource"]["id"] for e in patients["entry"]} == {world.ids["a"]}
    # A clinician who did not grant access: their patients are not the partner's.
    stranger = records.issuer.issue(
        "pa_fhir", "partner", scopes="goals:read", clinicians=[str(uuid.uuid4())]
    )
    empty = _fhir(
        await _get(
            records, {"Authorization": f"Bearer {stranger}"}, "/fhir/Goal", patient=world.ids["a"]
        )
    )
    assert empty["total"] == 0
    _fhir(
        await _get(
            records, {"Authorization": f"Bearer {stranger}"}, f"/fhir/Goal/{world.ids['goal']}"
        ),
        404,
    )


def test_the_validator_holds_resources_to_r4_itself(fhir_validator: FhirValidator) -> None:
    """The check above is worth something: HAPI refuses what R4 does not allow, including
    the shapes later versions (R4B, R5) gave the same resources."""
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "VR"},
    }
    assert fhir_validator.errors(encounter) == []
    # R5 made Encounter.class a list of CodeableConcepts.
    r5_class = {**encounter, "class": [{"coding": [encounter["class"]]}]}
    assert fhir_validator.errors(r5_class)
    assert fhir_validator.errors({**encounter, "status": "completed"})  # an R5 code
    assert fhir_validator.errors({**encounter, "virtualService": [{}]})  # an R5 element
