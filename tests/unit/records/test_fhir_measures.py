"""The FHIR export with measures: the Questionnaires answered, each QuestionnaireResponse with
LOINC-coded answers, and an Observation (survey category, LOINC total-score code) derived from
each response. Partner apps get none of it, as with check-ins.

The bundle is validated as FHIR R4 (4.0.1) by HAPI FHIR's instance validator; the checks
below hold the references and codes it cannot judge.
"""

from __future__ import annotations

from typing import Any

from shared.scopes import PartnerScope
from tests.fixtures.fhir_validator import FhirValidator
from tests.unit.records.conftest import Records
from tests.unit.records.test_measures_and_safety import answer, pair, phq9

SURVEY = "http://terminology.hl7.org/CodeSystem/observation-category"


def by_type(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


async def test_the_export_carries_questionnaires_responses_and_observations(
    records: Records, fhir_validator: FhirValidator
):
    clinician, client, session = await pair(records)
    phq = await answer(records, client, session, phq9([2, 2, 2, 2, 1, 1, 2, None, 1]))
    gad = await answer(records, client, session, {f"gad-7.{n}": 1 for n in range(1, 8)}, "gad-7")
    assert phq.status_code == gad.status_code == 201

    exported = await records.http.get(f"/v1/clients/{client}/fhir", headers=records.auth(clinician))

    assert exported.status_code == 200, exported.text
    bundle = exported.json()
    assert fhir_validator.errors(bundle) == []
    full_urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(full_urls) == len(set(full_urls))
    questionnaires = {f"{q['url']}|{q['version']}": q for q in by_type(bundle, "Questionnaire")}
    assert {q["code"][0]["code"] for q in questionnaires.values()} == {"44249-1", "69737-5"}
    responses = {r["id"]: r for r in by_type(bundle, "QuestionnaireResponse")}
    phq_response = responses[phq.json()["id"]]
    assert phq_response["questionnaire"] in questionnaires
    assert phq_response["encounter"] == {"reference": f"urn:uuid:{session}"}
    items = {i["linkId"]: i for i in phq_response["item"][0]["item"]}
    assert items["phq-9.9"]["answer"][0]["valueCoding"] == {
        "system": "http://loinc.org",
        "code": "LA6569-3",
        "display": "Several days",
    }
    assert "answer" not in items["phq-9.8"]  # skipped, and prorated in the total
    observations = by_type(bundle, "Observation")
    assert len(observations) == 2
    by_code = {o["code"]["coding"][0]["code"]: o for o in observations}
    phq_score = by_code["44261-6"]
    assert phq_score["category"][0]["coding"][0] == {
        "system": SURVEY,
        "code": "survey",
        "display": "Survey",
    }
    assert phq_score["valueInteger"] == phq.json()["total"] == 15
    assert phq_score["interpretation"] == [{"text": "moderately-severe"}]
    assert phq_score["derivedFrom"] == [{"reference": f"urn:uuid:{phq_response['id']}"}]
    assert f"urn:uuid:{phq_response['id']}" in full_urls
    assert by_code["70274-6"]["valueInteger"] == 7


async def test_a_partner_app_gets_no_measures(records: Records):
    clinician, client, session = await pair(records)
    await answer(records, client, session, phq9([1] * 9))
    token = records.issuer.issue(
        "pa_fhir", "partner", scopes=PartnerScope.FHIR_READ.value, clinicians=[str(clinician)]
    )
    exported = await records.http.get(
        f"/v1/clients/{client}/fhir", headers={"Authorization": f"Bearer {token}"}
    )
    assert exported.status_code == 200, exported.text
    kinds = {e["resource"]["resourceType"] for e in exported.json()["entry"]}
    assert kinds.isdisjoint({"Questionnaire", "QuestionnaireResponse", "Observation"}), kinds
