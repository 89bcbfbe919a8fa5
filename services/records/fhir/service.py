"""FHIR R4 for whoever may read it: one client's export Bundle, and the FHIR API's reads and
searches."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import audit, consent, measures
from services.records.access import is_partner, partner_clinicians, reader_role, require_client
from services.records.errors import FhirResourceNotFound, NotYourRecord
from services.records.fhir import repository, rules
from services.records.fhir.search import Search
from shared.db import utc_now
from shared.errors import Forbidden
from shared.scopes import SMART_RESOURCE_SCOPES, PartnerScope
from shared.tokens import Principal


async def export_client_fhir(
    db: AsyncSession, principal: Principal, client_id: uuid.UUID
) -> dict[str, Any]:
    """A client's records as a FHIR R4 Bundle: for a clinician, what they share with the
    client; for a partner app holding fhir:read, what the client shares with the clinicians
    who granted it access, less the check-ins (no scope grants them). No notes, ever."""
    clinician_ids: frozenset[uuid.UUID] | None
    if principal.role == "clinician" or is_partner(principal):
        clinician_ids = (
            frozenset({principal.user_id})
            if principal.role == "clinician"
            else await partner_clinicians(db, principal, PartnerScope.FHIR_READ)
        )
        # One answer for "unknown client" and "not a client of yours": no oracle.
        relationships, *_ = await repository.client_rows(db, client_id, clinician_ids)
        if not relationships:
            raise NotYourRecord("no care relationship with this client is open to you")
    elif principal.role == "admin" and audit.break_glass_reason.get():
        clinician_ids = None
        await require_client(db, client_id)
        await reader_role(db, principal, client_id, client_id, "client", client_id)
    else:
        raise Forbidden(
            f"requires a clinician of this client or a partner app with {PartnerScope.FHIR_READ}"
        )
    relationships, appointments, sessions, goals, check_ins = await repository.client_rows(
        db, client_id, clinician_ids
    )
    # Measures are clinical scores, like check-ins: for the clinician (or break glass) only.
    responses = (
        []
        if is_partner(principal)
        else await measures.client_responses(
            db, client_id, None if clinician_ids is None else sorted(clinician_ids)
        )
    )
    if is_partner(principal):
        check_ins = []
    attendance = await repository.attendance_of_sessions(db, [s.session_id for s in sessions])
    consents = await consent.signatures_for_export(db, client_id)
    exported = [
        ("care_relationship", [r.id for r in relationships]),
        ("appointment", [a.id for a in appointments]),
        ("session_record", [s.session_id for s in sessions]),
        ("goal", [g.id for g in goals]),
        ("check_in", [c.id for c in check_ins]),
        ("measure_response", [r.id for r in responses]),
        ("consent_signature", [signature.id for signature, _ in consents]),
    ]
    for resource_type, resource_ids in exported:
        await audit.record(db, principal, "export", resource_type, resource_ids)
    return rules.client_bundle(
        rules.ClientRecords(
            client_id=client_id,
            relationships=relationships,
            appointments=appointments,
            sessions=sessions,
            attendance=attendance,
            goals=goals,
            check_ins=check_ins,
            measure_responses=responses,
            consents=consents,
        ),
        generated_at=utc_now(),
    )


# The FHIR API (``/fhir``): reads and searches, for clinicians (their own clients) and partner
# apps (the clinicians who granted them access, under the SMART scopes' partner scopes).

AUDITED_AS = {
    "Patient": "client",
    "Appointment": "appointment",
    "Encounter": "session_record",
    "Goal": "goal",
    "CarePlan": "care_plan",
    "QuestionnaireResponse": "check_in",
    "Observation": "goal_update",
}


async def readable_clinicians(
    db: AsyncSession, principal: Principal, resource_type: str
) -> frozenset[uuid.UUID]:
    """Whose records of ``resource_type`` the caller may read: a clinician their own; a
    partner app the granting clinicians', holding the type's scope (shared.scopes)."""
    if principal.role == "clinician":
        return frozenset({principal.user_id})
    if is_partner(principal):
        read_scope, _ = SMART_RESOURCE_SCOPES[resource_type]
        if read_scope is None:
            raise Forbidden(f"partner apps cannot read {resource_type}")
        return await partner_clinicians(db, principal, read_scope)
    raise Forbidden("the FHIR API is for clinicians and partner apps")


async def search_resources(
    db: AsyncSession, principal: Principal, search: Search
) -> tuple[list[dict[str, Any]], int]:
    """One page of FHIR R4 resources matching ``search`` that the caller may read, and how
    many match in all; every resource returned is audited as read."""
    clinicians = await readable_clinicians(db, principal, search.resource_type)
    rows, total = await repository.search_rows(db, search, clinicians)
    resources = await _resources(db, search.resource_type, rows)
    await audit.record(
        db,
        principal,
        "read",
        AUDITED_AS[search.resource_type],
        [resource["id"] for resource in resources],
    )
    return resources, total


async def read_resource(
    db: AsyncSession, principal: Principal, resource_type: str, resource_id: uuid.UUID
) -> dict[str, Any]:
    """One resource by id; :class:`FhirResourceNotFound` alike for one that does not exist
    and one the caller may not read (no oracle)."""
    found, _ = await search_resources(
        db, principal, Search(resource_type=resource_type, ids=frozenset({resource_id}), count=1)
    )
    if not found:
        raise FhirResourceNotFound(f"{resource_type}/{resource_id} is not known here")
    return found[0]


async def _resources(db: AsyncSession, resource_type: str, rows: list[Any]) -> list[dict[str, Any]]:
    if resource_type == "Patient":
        return [rules.patient(known.user_id, known) for known in rows]
    if resource_type == "Encounter":
        attendance = await repository.attendance_of_sessions(db, [r.session_id for r in rows])
        return [rules.encounter(r, attendance.get(r.session_id, ())) for r in rows]
    if resource_type == "CarePlan":
        goals = await repository.goals_of_relationships(db, rows)
        return [rules.care_plan(r, goals) for r in rows]
    if resource_type == "Observation":
        return [rules.observation(update, goal) for update, goal in rows]
    builders: dict[str, Callable[[Any], dict[str, Any]]] = {
        "Appointment": rules.appointment,
        "Goal": rules.goal,
        "QuestionnaireResponse": rules.questionnaire_response,
    }
    return [builders[resource_type](row) for row in rows]
