"""Records' rows as FHIR R4 (4.0.1) resources: pure mapping, no I/O.

Plain JSON-ready dicts, checked in the tests by HAPI FHIR's R4 instance validator (the
``fhir.resources`` models ship R4B and R5, not R4, so they cannot vouch for R4). Only what
the reader may see goes in: ids, times, statuses, goal statements, progress ratings and
(never for a partner app) check-in ratings; no note of any kind.

A resource names others by a :data:`Ref` function: ``Type/id`` in the REST API, ``urn:uuid:``
in the export's collection Bundle, whose entries carry such full URLs.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.records.check_ins import ITEM_NAMES
from services.records.measures import Instrument, instrument
from services.records.models import (
    Appointment,
    CareRelationship,
    CheckIn,
    ConsentDocument,
    ConsentSignature,
    Goal,
    GoalUpdate,
    KnownUser,
    MeasureResponse,
    SessionAttendance,
    SessionRecord,
)

FHIR_VERSION = "4.0.1"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
GOAL_ACHIEVEMENT = "http://terminology.hl7.org/CodeSystem/goal-achievement"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
RAPPORT_USER = "urn:rapport:user"
RAPPORT_CONSENT_SIGNATURE = "urn:rapport:consent-signature"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
RAPPORT_OBSERVATION = "urn:rapport:observation"
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

# How one resource names another: (resource type, id) -> Reference.reference.
Ref = Callable[[str, uuid.UUID], str]


def relative_ref(resource_type: str, resource_id: uuid.UUID) -> str:
    """``Type/id``: the REST API's references, resolved against its base URL."""
    return f"{resource_type}/{resource_id}"


def uuid_ref(resource_type: str, resource_id: uuid.UUID) -> str:
    """``urn:uuid:id``: the export Bundle's references, matching its entries' full URLs."""
    return f"urn:uuid:{resource_id}"


def _reference(ref: Ref, resource_type: str, resource_id: uuid.UUID) -> dict[str, str]:
    return {"reference": ref(resource_type, resource_id)}


def _user(user_id: uuid.UUID, resource_type: str = "Practitioner") -> dict[str, Any]:
    # Practitioners (and guests) are identity's users; only their ids are known here.
    return {"type": resource_type, "identifier": {"system": RAPPORT_USER, "value": str(user_id)}}


def _time(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _meta(updated: datetime) -> dict[str, str]:
    return {"lastUpdated": updated.isoformat()}


def patient(client_id: uuid.UUID, known: KnownUser | None = None) -> dict[str, Any]:
    """The client as a Patient: an id and identity's user id, nothing that names them."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(client_id),
        "identifier": [{"system": RAPPORT_USER, "value": str(client_id)}],
        "active": True,
    }
    if known is not None:
        resource["meta"] = _meta(known.registered_at)
    return resource


def appointment(row: Appointment, ref: Ref = relative_ref) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": str(row.id),
        "meta": _meta(row.updated_at),
        "status": row.status,
        "start": _time(row.starts_at),
        "end": _time(row.ends_at),
        "participant": [
            {"actor": _reference(ref, "Patient", row.client_id), "status": "accepted"},
            {"actor": _user(row.clinician_id), "status": "accepted"},
        ],
    }


def encounter(
    record: SessionRecord, attendance: Sequence[SessionAttendance], ref: Ref = relative_ref
) -> dict[str, Any]:
    status = ENCOUNTER_STATUS.get(record.status, "unknown")
    if record.outcome == "no-show":
        status = "cancelled"
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": str(record.session_id),
        "meta": _meta(record.updated_at),
        "status": status,
        "class": {"system": ACT_CODE, "code": "VR", "display": "virtual"},
        "subject": _reference(ref, "Patient", record.client_id),
        "appointment": [_reference(ref, "Appointment", record.appointment_id)],
    }
    participants = [
        {
            "individual": _user(a.user_id, "Practitioner" if a.role == "clinician" else "Patient")
            if a.role in ("clinician", "client")
            else {"identifier": {"system": RAPPORT_USER, "value": str(a.user_id)}},
            **_period(a.joined_at, a.left_at),
        }
        for a in attendance
    ]
    if participants:
        resource["participant"] = participants
    resource.update(_period(record.connected_at or record.admitted_at, record.ended_at))
    if record.duration_seconds is not None:
        resource["length"] = {
            "value": record.duration_seconds,
            "unit": "s",
            "system": "http://unitsofmeasure.org",
            "code": "s",
        }
    return resource


def _period(start: datetime | None, end: datetime | None) -> dict[str, Any]:
    period = {k: v for k, v in (("start", _time(start)), ("end", _time(end))) if v is not None}
    return {"period": period} if period else {}


def goal(row: Goal, ref: Ref = relative_ref) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Goal",
        "id": str(row.id),
        "meta": _meta(row.updated_at),
        "lifecycleStatus": row.status,
        "description": {"text": row.statement},
        "subject": _reference(ref, "Patient", row.client_id),
        "startDate": row.created_at.date().isoformat(),
    }
    if row.achievement_status is not None:
        resource["achievementStatus"] = {
            "coding": [{"system": GOAL_ACHIEVEMENT, "code": row.achievement_status}]
        }
    if row.target is not None or row.due_date is not None:
        target: dict[str, Any] = {}
        if row.target is not None:
            target["measure"] = {"text": row.target}
        if row.due_date is not None:
            target["dueDate"] = row.due_date.isoformat()
        resource["target"] = [target]
    return resource


def care_plan(
    relationship: CareRelationship, goals: Sequence[Goal], ref: Ref = relative_ref
) -> dict[str, Any]:
    """The relationship's treatment plan; ``goals`` are the client's (filtered here to the
    relationship's clinician and to goals not entered in error)."""
    mine = [
        g
        for g in goals
        if g.clinician_id == relationship.clinician_id and g.status != "entered-in-error"
    ]
    resource: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": str(relationship.id),
        "meta": _meta(relationship.updated_at),
        "status": CARE_PLAN_STATUS.get(relationship.status, "unknown"),
        "intent": "plan",
        "subject": _reference(ref, "Patient", relationship.client_id),
        **_period(relationship.started_at, relationship.ended_at),
        "author": _user(relationship.clinician_id),
    }
    if mine:
        resource["goal"] = [_reference(ref, "Goal", g.id) for g in mine]
    return resource


def observation(update: GoalUpdate, row: Goal, ref: Ref = relative_ref) -> dict[str, Any]:
    """A goal progress rating (0-10) as an Observation about the goal; never its note."""
    author = (
        _reference(ref, "Patient", update.author_id)
        if update.author_role == "client"
        else _user(update.author_id)
    )
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(update.id),
        "meta": _meta(update.entered_in_error_at or update.recorded_at),
        "status": "entered-in-error" if update.entered_in_error_at else "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ],
        "code": {
            "coding": [
                {
                    "system": RAPPORT_OBSERVATION,
                    "code": "goal-progress",
                    "display": "Goal progress rating (0-10)",
                }
            ],
            "text": "Goal progress rating (0-10)",
        },
        "subject": _reference(ref, "Patient", row.client_id),
        "focus": [_reference(ref, "Goal", row.id)],
        "effectiveDateTime": _time(update.recorded_at),
        "performer": [author],
        "valueInteger": update.progress,
    }
    if update.session_id is not None:
        resource["encounter"] = _reference(ref, "Encounter", update.session_id)
    return resource


def questionnaire_response(check_in: CheckIn, ref: Ref = relative_ref) -> dict[str, Any]:
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
        "meta": _meta(check_in.submitted_at),
        "questionnaire": QUESTIONNAIRES[check_in.kind],
        "status": "completed",
        "subject": _reference(ref, "Patient", check_in.client_id),
        "encounter": _reference(ref, "Encounter", check_in.session_id),
        "authored": _time(check_in.submitted_at),
        "item": items,
    }


LOINC = "http://loinc.org"
LOCAL_SCORES = "https://rapport.dev/fhir/CodeSystem/measure-scores"


def consent(
    signature: ConsentSignature,
    document: ConsentDocument,
    ref: Ref = relative_ref,
    superseded_at: datetime | None = None,
) -> dict[str, Any]:
    """A client's signature of the clinic's telehealth consent as a Consent to treatment:
    active while in force, inactive once withdrawn or superseded by the client's signature of
    a later version (the permit's period ends then). The document is named and hashed, not
    copied; the typed name stays in records."""
    ended_at = signature.withdrawn_at or superseded_at
    period = {"start": signature.signed_at.isoformat()}
    if ended_at is not None:
        period["end"] = ended_at.isoformat()
    return {
        "resourceType": "Consent",
        "id": str(signature.id),
        "meta": _meta(ended_at or signature.signed_at),
        "identifier": [{"system": RAPPORT_CONSENT_SIGNATURE, "value": str(signature.id)}],
        "status": "active" if ended_at is None else "inactive",
        "scope": {
            "coding": [{"system": CONSENT_SCOPE, "code": "treatment", "display": "Treatment"}]
        },
        "category": [
            {"coding": [{"system": LOINC, "code": "59284-0", "display": "Patient Consent"}]}
        ],
        "patient": _reference(ref, "Patient", signature.client_id),
        "dateTime": signature.signed_at.isoformat(),
        "performer": [_reference(ref, "Patient", signature.client_id)],
        "sourceAttachment": {
            "contentType": "text/plain",
            "url": f"urn:uuid:{document.id}",
            # R4's Attachment.hash is the SHA-1 of the data; records keeps the SHA-256 too.
            "hash": base64.b64encode(
                hashlib.sha1(document.text.encode(), usedforsecurity=False).digest()
            ).decode(),
            "title": f"{document.title} (version {document.version}, sha256 {document.sha256})",
            "creation": document.published_at.isoformat(),
        },
        # The clinic's document, by version: what the client agreed to.
        "policy": [{"uri": f"urn:uuid:{document.id}"}],
        "provision": {"type": "permit", "period": period},
    }


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


def measure_response(
    inst: Instrument, response: MeasureResponse, ref: Ref = relative_ref
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": str(response.id),
        "questionnaire": f"{inst.url}|{response.instrument_version}",
        "status": "completed",
        "subject": _reference(ref, "Patient", response.client_id),
        "authored": _time(response.completed_at),
        "source": _reference(ref, "Patient", response.client_id),
        "item": [{"linkId": "questions", "item": _measure_answers(inst, response)}],
    }
    if response.session_id is not None:
        resource["encounter"] = _reference(ref, "Encounter", response.session_id)
    if inst.total_code is not None:
        resource["item"].append({"linkId": "total", "answer": [{"valueInteger": response.total}]})
    return resource


def _score_code(inst: Instrument) -> dict[str, Any]:
    if inst.total_code is not None:
        return {"system": LOINC, "code": inst.total_code, "display": f"{inst.title} total score"}
    return {"system": LOCAL_SCORES, "code": f"{inst.code}-total", "display": f"{inst.title} total"}


def measure_observation(
    inst: Instrument, response: MeasureResponse, ref: Ref = relative_ref
) -> dict[str, Any]:
    code = _score_code(inst)
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(_observation_id(response)),
        "status": "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ],
        "code": {"coding": [code], "text": code["display"]},
        "subject": _reference(ref, "Patient", response.client_id),
        "effectiveDateTime": _time(response.completed_at),
        "valueInteger": response.total,
        "interpretation": [{"text": response.band}],
        "derivedFrom": [_reference(ref, "QuestionnaireResponse", response.id)],
    }
    if response.session_id is not None:
        resource["encounter"] = _reference(ref, "Encounter", response.session_id)
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


def _measures(responses: Sequence[MeasureResponse], ref: Ref) -> list[dict[str, Any]]:
    """The Questionnaires answered, each response, and the score derived from it."""
    used = sorted({r.instrument for r in responses})
    resources = [instrument(code).questionnaire() for code in used]
    for response in responses:
        inst = instrument(response.instrument)
        resources += [
            measure_response(inst, response, ref),
            measure_observation(inst, response, ref),
        ]
    return resources


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
    consents: Sequence[tuple[ConsentSignature, ConsentDocument]] = ()


def _consents(
    signatures: Sequence[tuple[ConsentSignature, ConsentDocument]], ref: Ref
) -> list[dict[str, Any]]:
    # Oldest first: each signature is superseded by the next one the client made.
    ordered = sorted(signatures, key=lambda pair: pair[0].signed_at)
    return [
        consent(
            signature,
            document,
            ref,
            superseded_at=ordered[i + 1][0].signed_at if i + 1 < len(ordered) else None,
        )
        for i, (signature, document) in enumerate(ordered)
    ]


def client_bundle(records: ClientRecords, generated_at: datetime) -> dict[str, Any]:
    """The client's records as a FHIR R4 ``collection`` Bundle (JSON-ready)."""
    ref = uuid_ref
    resources = [
        patient(records.client_id),
        *(appointment(a, ref) for a in records.appointments),
        *(encounter(s, records.attendance.get(s.session_id, ()), ref) for s in records.sessions),
        *(goal(g, ref) for g in records.goals),
        *(care_plan(r, records.goals, ref) for r in records.relationships),
        *(questionnaire_response(c, ref) for c in records.check_ins),
        *_measures(records.measure_responses, ref),
        *_consents(records.consents, ref),
    ]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "collection",
        "timestamp": generated_at.isoformat(),
        "entry": [{"fullUrl": _full_url(resource), "resource": resource} for resource in resources],
    }


def searchset(
    resources: Sequence[dict[str, Any]],
    *,
    base_url: str,
    self_url: str,
    next_url: str | None,
    total: int,
) -> dict[str, Any]:
    """A search's page as a ``searchset`` Bundle with its ``self`` and ``next`` links."""
    links = [{"relation": "self", "url": self_url}]
    if next_url is not None:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in resources
        ],
    }
