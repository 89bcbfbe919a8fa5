"""The FHIR export of one client's records, for whoever may read them."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import audit, measures
from services.records.access import is_partner, partner_clinicians, reader_role, require_client
from services.records.errors import NotYourRecord
from services.records.fhir import repository, rules
from shared.db import utc_now
from shared.errors import Forbidden
from shared.scopes import PartnerScope
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
    exported = [
        ("care_relationship", [r.id for r in relationships]),
        ("appointment", [a.id for a in appointments]),
        ("session_record", [s.session_id for s in sessions]),
        ("goal", [g.id for g in goals]),
        ("check_in", [c.id for c in check_ins]),
        ("measure_response", [r.id for r in responses]),
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
        ),
        generated_at=utc_now(),
    )
