"""FHIR R4 export: one client's partnership as a ``collection`` Bundle.

Pure mapping from records' rows to FHIR resources, validated by the ``fhir.resources``
models (R4B, the R4-compatible release they ship). Only what the reader may see goes in:
ids, times, statuses, goal statements and (never for a partner app) check-in ratings; no
note of any kind.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir.resources.R4B.bundle import Bundle

from services.records.check_ins import ITEM_NAMES
from services.records.measures import Instrument, instrument
from services.records.models import (
    Appointment,
    CareRelationship,
    CheckIn,
    Goal,
    MeasureResponse,
    SessionAttendance,
    SessionRecord,
)

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
GOAL_ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"
QUESTIONNAIRES = {
    "outcome": "urn:rapport:questionnaire:outcome-check-in",
    "session": "urn:rapport:questionnaire:session-check-in",
}
# Records' session status, and outcome, as FHIR Encounter.status.
ENCOUNTER_STATUS = {
    "scheduled": "planned",
    "in-progress": "in-progress",
    "completed": "finished",
    "cancelled": "cancelled",
}
CARE_PLAN_STATUS = {"active": "active", "ended": "completed"}


@dataclass(frozen=True)
class ClientRecords:
    """Everything exported for one client (already filtered to what the reader may see)."""

    client_id: uuid.UUID
    relationships: Sequence[CareRelationship]
    appointments: Sequence[Appointment]
    sessions: Sequence[SessionRecord]
    attendance: dict[uuid.UUID, Sequence[SessionAttendance]]
    goals: Sequence[Goal]
    check_ins: Sequence[CheckIn]
    measure_responses: Sequence[MeasureResponse] = ()


def _ref(resource_id: uuid.UUID) -> dict[str, str]:
    return {"reference": f"urn:uuid:{resource_id}"}


def _practitioner(user_id: uuid.UUID) -> dict[str, Any]:
    # Practitioners are identity's users; only their ids are known here.
    return {
        "type": "Practitioner",
        "identifier": {"system": "urn:rapport:user", "value": str(user_id)},
    }


def _time(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _patient(client_id: uuid.UUID) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": str(client_id),
        "identifier": [{"system": "urn:rapport:user", "value": str(client_id)}],
    }


def _appointment(appointment: Appointment) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": str(appointment.id),
        "status": appointment.status,
        "start": _time(appointment.starts_at),
        "end": _time(appointment.ends_at),
        "participant": [
            {"actor": _ref(appointment.client_id), "status": "accepted"},
            {"actor": _practitioner(appointment.clinician_id), "status": "accepted"},
        ],
    }


def _encounter(record: SessionRecord, attendance: Sequence[SessionAttendance]) -> dict[str, Any]:
    status = ENCOUNTER_STATUS.get(record.status, "unknown")
    if record.outcome == "no-show":
        status = "cancelled"
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": str(record.session_id),
        "status": status,
        "class": {"system": ACT_CODE, "code": "VR", "display": "virtual"},
        "subject": _ref(record.client_id),
        "appointment": [_ref(record.appointment_id)],
        "participant": [
            {
                "individual": _practitioner(a.user_id)
                if a.role == "clinician"
                else {"identifier": {"system": "urn:rapport:user", "value": str(a.user_id)}},
                "period": {"start": _time(a.joined_at), "end": _time(a.left_at)},
            }
            for a in attendance
        ],
    }
    start = record.connected_at or record.admitted_at
    if start is not None or record.ended_at is not None:
        encounter["period"] = {"start": _time(start), "end": _time(record.ended_at)}
    if record.duration_seconds is not None:
        encounter["length"] = {
            "value": record.duration_seconds,
            "unit": "s",
            "system": "http://unitsofmeasure.org",
            "code": "s",
        }
    return encounter


def _goal(goal: Goal) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Goal",
        "id": str(goal.id),
        "lifecycleStatus": goal.status,
        "description": {"text": goal.statement},
        "subject": _ref(goal.client_id),
        "startDate": goal.created_at.date().isoformat(),
    }
    if goal.achievement_status is not None:
        resource["achievementStatus"] = {
            "coding": [{"system": GOAL_ACHIEVEMENT, "code": goal.achievement_status}]
        }
    if goal.target is not None or goal.due_date is not None:
        target: dict[str, Any] = {}
        if goal.target is not None:
            target["measure"] = {"text": goal.target}
        if goal.due_date is not None:
            target["dueDate"] = goal.due_date.isoformat()
        resource["target"] = [target]
    return resource


def _care_plan(relationship: CareRelationship, goals: Sequence[Goal]) -> dict[str, Any]:
    mine = [
        g
        for g in goals
        if g.clinician_id == relationship.clinician_id and g.status != "entered-in-error"
    ]
    return {
        "resourceType": "CarePlan",
        "id": str(relationship.id),
        "status": CARE_PLAN_STATUS.get(relationship.status, "unknown"),
        "intent": "plan",
        "subject": _ref(relationship.client_id),
        "period": {
            "start": _time(relationship.started_at),
            **({"end": _time(relationship.ended_at)} if relationship.ended_at else {}),
        },
        "author": _practitioner(relationship.clinician_id),
        "goal": [_ref(g.id) for g in mine],
    }


def _questionnaire_response(check_in: CheckIn) -> dict[str, Any]:
    names = ITEM_NAMES[check_in.kind]  # type: ignore[index]
    values = (check_in.item1, check_in.item2, check_in.item3, check_in.item4)
    items = [
        {"linkId": name, "answer": [{"valueInteger": value}]}
        for name, value in zip(names, values, strict=True)
    ]
    items.append({"linkId": "total", "answer": [{"valueInteger": check_in.total}]})
    return {
        "resourceType": "QuestionnaireResponse",
        "id": str(check_in.id),
        "questionnaire": QUESTIONNAIRES[check_in.kind],
        "status": "completed",
        "subject": _ref(check_in.client_id),
        "encounter": _ref(check_in.session_id),
        "authored": _time(check_in.submitted_at),
        "item": items,
    }


OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
LOINC = "http://loinc.org"
LOCAL_SCORES = "https://rapport.dev/fhir/CodeSystem/measure-scores"


def _full_url(resource: dict[str, Any]) -> str:
    # A Questionnaire is a shared definition known by its canonical URL; everything else is
    # this client's and has a UUID.
    if resource["resourceType"] == "Questionnaire":
        return str(resource["url"])
    return f"urn:uuid:{resource['id']}"


def _observation_id(response: MeasureResponse) -> uuid.UUID:
    return uuid.uuid5(response.id, "observation")


def _measure_answers(inst: Instrument, response: MeasureResponse) -> list[dict[str, Any]]:
    by_value = {value: (system, code, display) for value, system, code, display in inst.options}
    items = []
    for link_id, text, value in zip(inst.item_ids, inst.item_texts, response.answers, strict=True):
        item: dict[str, Any] = {"linkId": link_id, "text": text}
        if value is not None:
            system, code, display = by_value[value]
            item["answer"] = [{"valueCoding": {"system": system, "code": code, "display": display}}]
        items.append(item)
    return items


def _measure_response(inst: Instrument, response: MeasureResponse) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": str(response.id),
        "questionnaire": f"{inst.url}|{response.instrument_version}",
        "status": "completed",
        "subject": _ref(response.client_id),
        "authored": _time(response.completed_at),
        "source": _ref(response.client_id),
        "item": [{"linkId": "questions", "item": _measure_answers(inst, response)}],
    }
    if response.session_id is not None:
        resource["encounter"] = _ref(response.session_id)
    if inst.total_code is not None:
        resource["item"].append({"linkId": "total", "answer": [{"valueInteger": response.total}]})
    return resource


def _score_code(inst: Instrument) -> dict[str, Any]:
    if inst.total_code is not None:
        return {"system": LOINC, "code": inst.total_code, "display": f"{inst.title} total score"}
    return {"system": LOCAL_SCORES, "code": f"{inst.code}-total", "display": f"{inst.title} total"}


def _measure_observation(inst: Instrument, response: MeasureResponse) -> dict[str, Any]:
    code = _score_code(inst)
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(_observation_id(response)),
        "status": "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ],
        "code": {"coding": [code], "text": code["display"]},
        "subject": _ref(response.client_id),
        "effectiveDateTime": _time(response.completed_at),
        "valueInteger": response.total,
        "interpretation": [{"text": response.band}],
        "derivedFrom": [_ref(response.id)],
    }
    if response.session_id is not None:
        resource["encounter"] = _ref(response.session_id)
    if response.subscales:
        resource["component"] = [
            {
                "code": {
                    "coding": [
                        {
                            "system": LOCAL_SCORES,
                            "code": f"{inst.code}-{name}",
                            "display": f"{inst.title} {name} subscale",
                        }
                    ]
                },
                "valueInteger": value,
            }
            for name, value in sorted(response.subscales.items())
        ]
    return resource


def _measures(responses: Sequence[MeasureResponse]) -> list[dict[str, Any]]:
    """The Questionnaires answered, each response, and the score derived from it."""
    used = sorted({r.instrument for r in responses})
    resources = [instrument(code).questionnaire() for code in used]
    for response in responses:
        inst = instrument(response.instrument)
        resources += [_measure_response(inst, response), _measure_observation(inst, response)]
    return resources


def client_bundle(records: ClientRecords, generated_at: datetime) -> dict[str, Any]:
    """The client's records as a FHIR R4 ``collection`` Bundle (validated, JSON-ready)."""
    resources = [
        _patient(records.client_id),
        *(_appointment(a) for a in records.appointments),
        *(_encounter(s, records.attendance.get(s.session_id, ())) for s in records.sessions),
        *(_goal(g) for g in records.goals),
        *(_care_plan(r, records.goals) for r in records.relationships),
        *(_questionnaire_response(c) for c in records.check_ins),
        *_measures(records.measure_responses),
    ]
    bundle = Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "type": "collection",
            "timestamp": generated_at.isoformat(),
            "entry": [
                {"fullUrl": _full_url(resource), "resource": resource} for resource in resources
            ],
        }
    )
    result: dict[str, Any] = bundle.model_dump(mode="json", by_alias=True, exclude_none=True)
    return result
