"""Safety flags (raise, list, acknowledge, escalate) and the client's safety plan.

A flag carries a deadline fixed when it is raised (``due_at``), so the escalation loop finds
overdue flags in the database after any restart. Every read and change is audited.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import audit
from services.records import repository as records
from services.records.access import SOURCE, actor_uuid
from services.records.errors import NotYourRecord
from services.records.models import MeasureResponse, SafetyFlag, SafetyPlanVersion
from services.records.safety import repository, rules
from services.records.safety.errors import (
    FlagAlreadyAcknowledged,
    SafetyFlagNotFound,
    SafetyPlanNotFound,
)
from services.records.safety.schemas import (
    Acknowledgement,
    FlagView,
    SafetyPlanSections,
    SafetyPlanVersionView,
    SafetyPlanView,
)
from shared.db import utc_now
from shared.errors import Forbidden
from shared.events.catalog import SafetyFlagAcknowledged, SafetyFlagEscalated, SafetyFlagRaised
from shared.events.outbox import add_event
from shared.tokens import Principal

PHQ9_ITEM9_RULE = "phq-9-item-9"


def _view(flag: SafetyFlag) -> FlagView:
    return FlagView.model_validate(flag)


def _common(flag: SafetyFlag) -> dict[str, object]:
    return {
        "flag_id": flag.id,
        "client_id": flag.client_id,
        "clinician_id": flag.clinician_id,
        "instrument": flag.instrument,
        "severity": flag.severity,
    }


async def raise_for_response(
    db: AsyncSession,
    principal: Principal,
    response: MeasureResponse,
    risk_item: int | None,
    deadline: timedelta,
) -> SafetyFlag | None:
    """Raise a flag when the response's risk answer calls for one (PHQ-9 item 9 above 0);
    ``safety.flag.raised`` carries ids, instrument, severity and times, never the answers."""
    severity = rules.risk_severity(risk_item)
    if severity is None:
        return None
    raised_at = response.completed_at
    flag = SafetyFlag(
        clinician_id=response.clinician_id,
        client_id=response.client_id,
        response_id=response.id,
        instrument=response.instrument,
        rule=PHQ9_ITEM9_RULE,
        severity=severity,
        raised_at=raised_at,
        due_at=rules.acknowledge_by(raised_at, deadline),
    )
    repository.add(db, flag)
    add_event(
        db,
        SafetyFlagRaised(**_common(flag), raised_at=raised_at, acknowledge_by=flag.due_at),
        source=SOURCE,
    )
    await audit.record(db, principal, "create", "safety_flag", [flag.id])
    return flag


async def list_flags(db: AsyncSession, principal: Principal) -> list[FlagView]:
    """The flags waiting on the caller: a clinician's clients' unacknowledged flags (open or
    escalated); for an admin, the escalated flags sent to them or to every admin."""
    if principal.role == "clinician":
        flags = await repository.unresolved_flags_of_clinician(db, principal.user_id)
    elif principal.role == "admin":
        flags = await repository.escalated_flags_for(db, principal.user_id)
    else:
        raise Forbidden("safety flags are for the clinician and the clinic's on-call")
    await audit.record(db, principal, "read", "safety_flag", [f.id for f in flags])
    return [_view(f) for f in flags]


async def list_client_flags(
    db: AsyncSession, principal: Principal, client_id: uuid.UUID
) -> list[FlagView]:
    """Every flag of one client with the calling clinician, oldest first."""
    if principal.role != "clinician":
        raise Forbidden("a client's safety flags are for their clinician")
    flags = await repository.flags_of_client(db, client_id, [principal.user_id])
    await audit.record(db, principal, "read", "safety_flag", [f.id for f in flags])
    return [_view(f) for f in flags]


async def unresolved_counts(db: AsyncSession, clinician_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """Unacknowledged flags per client of one clinician (the caseload view)."""
    return await repository.unresolved_counts(db, clinician_id)


def _may_acknowledge(principal: Principal, flag: SafetyFlag) -> bool:
    if principal.user_id == flag.clinician_id and principal.role == "clinician":
        return True
    # Once escalated, the on-call it went to (every admin when there is none) handles it too.
    if flag.status != "escalated":
        return False
    if flag.escalated_to is not None:
        return principal.user_id == flag.escalated_to
    return principal.role == "admin"


async def acknowledge(
    db: AsyncSession, principal: Principal, flag_id: uuid.UUID, ack: Acknowledgement
) -> FlagView:
    """Record what was done about a flag; the flag leaves every dashboard."""
    flag = await repository.get_flag(db, flag_id)
    if flag is None or not _may_acknowledge(principal, flag):
        # One answer for "no such flag" and "not yours": no oracle for flag ids.
        raise SafetyFlagNotFound(f"no safety flag {flag_id} waits on you")
    if flag.status == "acknowledged":
        raise FlagAlreadyAcknowledged(f"flag {flag_id} was acknowledged already")
    now = utc_now()
    flag.status = "acknowledged"
    flag.acknowledged_at = now
    flag.acknowledged_by = actor_uuid(principal)
    flag.action = ack.action
    flag.action_note = ack.note
    db.add(flag)
    add_event(
        db,
        SafetyFlagAcknowledged(
            **_common(flag),
            acknowledged_by=flag.acknowledged_by,
            action=ack.action,
            acknowledged_at=now,
        ),
        source=SOURCE,
    )
    await audit.record(db, principal, "acknowledge", "safety_flag", [flag.id])
    return _view(flag)


async def escalate_overdue(db: AsyncSession, now: datetime, on_call_id: uuid.UUID | None) -> int:
    """Escalate every open flag past its deadline to the on-call; returns how many."""
    escalated = 0
    for flag in await repository.overdue_flags(db, now):
        if not rules.is_overdue("open", flag.due_at, now):
            continue
        if not await repository.claim_escalation(db, flag.id, now, on_call_id):
            continue
        add_event(
            db,
            SafetyFlagEscalated(
                **_common(flag),
                escalated_to=on_call_id,
                raised_at=flag.raised_at,
                escalated_at=now,
            ),
            source=SOURCE,
        )
        await audit.record(db, None, "escalate", "safety_flag", [flag.id])
        escalated += 1
    return escalated


async def _plan_party(db: AsyncSession, principal: Principal, client_id: uuid.UUID) -> uuid.UUID:
    """The clinician whose care the plan is written in: the caller (a clinician in an active
    relationship with the client), or for the client, their longest-standing clinician."""
    if principal.role == "clinician":
        if await records.get_active_relationship(db, principal.user_id, client_id) is None:
            raise NotYourRecord("only the client and their clinicians use their safety plan")
        return principal.user_id
    if principal.role == "client" and principal.user_id == client_id:
        relationship = await repository.first_active_relationship(db, client_id)
        if relationship is None:
            raise NotYourRecord("a safety plan is written with a clinician")
        return relationship.clinician_id
    raise NotYourRecord("only the client and their clinicians use their safety plan")


def _plan_view(plan: SafetyPlanVersion) -> SafetyPlanView:
    return SafetyPlanView(
        client_id=plan.client_id,
        version=plan.version,
        sections=SafetyPlanSections.model_validate(plan.sections),
        author_id=plan.author_id,
        author_role=plan.author_role,
        saved_at=plan.saved_at,
    )


async def save_plan(
    db: AsyncSession, principal: Principal, client_id: uuid.UUID, sections: SafetyPlanSections
) -> SafetyPlanView:
    """Save the plan as its next version (the client and a clinician write it together)."""
    clinician_id = await _plan_party(db, principal, client_id)
    latest = await repository.latest_plan(db, client_id)
    plan = SafetyPlanVersion(
        client_id=client_id,
        version=(latest.version + 1) if latest else 1,
        clinician_id=clinician_id,
        sections=sections.model_dump(),
        author_id=principal.user_id,
        author_role=principal.role or "unknown",
    )
    repository.add(db, plan)
    await audit.record(db, principal, "create", "safety_plan", [f"{client_id}/v{plan.version}"])
    return _plan_view(plan)


async def read_plan(
    db: AsyncSession, principal: Principal, client_id: uuid.UUID, version: int | None
) -> SafetyPlanView:
    """The plan's latest version (or the one asked for), for the client and their clinicians."""
    await _plan_party(db, principal, client_id)
    plan = (
        await repository.latest_plan(db, client_id)
        if version is None
        else await repository.plan_version(db, client_id, version)
    )
    if plan is None:
        raise SafetyPlanNotFound(
            "no safety plan yet" if version is None else f"no version {version} of the plan"
        )
    await audit.record(db, principal, "read", "safety_plan", [f"{client_id}/v{plan.version}"])
    return _plan_view(plan)


async def plan_history(
    db: AsyncSession, principal: Principal, client_id: uuid.UUID
) -> list[SafetyPlanVersionView]:
    """Every version of the plan, oldest first (who saved it, when)."""
    await _plan_party(db, principal, client_id)
    versions = await repository.plan_versions(db, client_id)
    await audit.record(db, principal, "read", "safety_plan", [f"{client_id}/history"])
    return [
        SafetyPlanVersionView(
            version=v.version, author_id=v.author_id, author_role=v.author_role, saved_at=v.saved_at
        )
        for v in versions
    ]
