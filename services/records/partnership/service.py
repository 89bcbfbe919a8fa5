"""Care relationships, the planned end of treatment, and the client's values."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import audit
from services.records import repository as records
from services.records.access import (
    SOURCE,
    PartyRole,
    party_role,
    require_client,
    require_relationship,
)
from services.records.check_ins import CLINICAL_CUTOFF
from services.records.errors import (
    CareRelationshipNotFound,
    PlanClosed,
    UnknownValue,
)
from services.records.models import (
    CareRelationship,
    ClientValue,
)
from services.records.partnership import repository
from services.records.partnership.schemas import (
    CareRelationshipView,
    NewCareRelationship,
    NewValue,
    PlanChange,
    Readiness,
    ValueView,
)
from shared.db import utc_now
from shared.errors import Forbidden, InvalidRequest
from shared.events.catalog import (
    CareRelationshipStarted,
    InvitationAccepted,
    PlanCompleted,
    PlanEndingStarted,
)
from shared.events.outbox import add_event
from shared.tokens import Principal

# Care relationships


async def start_relationship(
    db: AsyncSession, clinician_id: uuid.UUID, client_id: uuid.UUID, via: str
) -> tuple[CareRelationship, bool]:
    """The pair's active relationship, started now if there is none; and whether it is new.

    The one way a relationship begins, whatever begins it (a booking, an explicit request,
    an accepted invitation), so each path gets the same event and audit entry.
    """
    existing = await records.get_active_relationship(db, clinician_id, client_id)
    if existing is not None:
        return existing, False
    relationship = CareRelationship(clinician_id=clinician_id, client_id=client_id, started_via=via)
    records.add(db, relationship)
    add_event(
        db,
        CareRelationshipStarted(
            relationship_id=relationship.id,
            clinician_id=clinician_id,
            client_id=client_id,
            started_at=relationship.started_at,
        ),
        source=SOURCE,
    )
    return relationship, True


async def start_care_relationship(
    db: AsyncSession, principal: Principal, request: NewCareRelationship
) -> tuple[CareRelationshipView, bool]:
    """The calling clinician takes on a registered client (idempotent while it is active)."""
    principal.require_role("clinician")
    await require_client(db, request.client_id)
    relationship, created = await start_relationship(
        db, principal.user_id, request.client_id, "clinician"
    )
    await audit.record(
        db, principal, "create" if created else "read", "care_relationship", [relationship.id]
    )
    return CareRelationshipView.model_validate(relationship), created


async def link_invited_client(db: AsyncSession, event: InvitationAccepted) -> None:
    """A client accepted a clinician's invitation (identity says so): their relationship
    starts, unless an active one links them already; a repeat changes nothing.

    Audited as ``system``, like every change records makes from another service's event: no
    one presented a token here, and the relationship itself names the client and says it
    started by ``invitation``.
    """
    relationship, created = await start_relationship(
        db, event.clinician_id, event.client_id, "invitation"
    )
    if created:
        await audit.record(db, None, "create", "care_relationship", [relationship.id])


async def list_care_relationships(
    db: AsyncSession, principal: Principal
) -> list[CareRelationshipView]:
    """The caller's relationships, as clinician or as client."""
    principal.require_role("clinician", "client")
    relationships = await repository.list_relationships_of(db, principal.user_id)
    await audit.record(db, principal, "read", "care_relationship", (r.id for r in relationships))
    return [CareRelationshipView.model_validate(r) for r in relationships]


async def discharge(
    db: AsyncSession, principal: Principal, relationship_id: uuid.UUID
) -> CareRelationshipView:
    """The relationship's clinician ends it; ending an ended one changes nothing."""
    relationship = await repository.get_relationship(db, relationship_id)
    if relationship is None:
        raise CareRelationshipNotFound(f"no care relationship {relationship_id}")
    if party_role(principal, relationship.clinician_id, relationship.client_id) != "clinician":
        raise Forbidden("only the clinician discharges a client")
    if relationship.status == "active":
        relationship.status = "ended"
        relationship.ended_at = utc_now()
        await audit.record(db, principal, "update", "care_relationship", [relationship.id])
    return CareRelationshipView.model_validate(relationship)


# Planned discontinuation

RECENT_OUTCOMES = 3
PLAN_STEPS = {"active": "ending", "ending": "completed"}


async def _relationship_of_party(
    db: AsyncSession, principal: Principal, relationship_id: uuid.UUID
) -> tuple[CareRelationship, PartyRole]:
    relationship = await repository.get_relationship(db, relationship_id)
    if relationship is None:
        raise CareRelationshipNotFound(f"no care relationship {relationship_id}")
    return relationship, party_role(principal, relationship.clinician_id, relationship.client_id)


async def _readiness(db: AsyncSession, relationship: CareRelationship) -> Readiness:
    pair = (relationship.clinician_id, relationship.client_id)
    goals = [
        g
        for g in await records.list_goals(db, clinician_id=pair[0], client_id=pair[1])
        if g.status not in ("proposed", "cancelled", "entered-in-error", "rejected")
    ]
    met = sum(1 for g in goals if g.achievement_status in ("achieved", "sustaining"))
    outcomes = await repository.recent_check_ins(db, *pair, "outcome", RECENT_OUTCOMES)
    totals = [c.total for c in outcomes]
    above = bool(totals) and all(t > CLINICAL_CUTOFF for t in totals)
    latest_session = await repository.recent_check_ins(db, *pair, "session", 1)
    concern = any("alliance-concern" in c.flags for c in latest_session)
    return Readiness(
        goals_total=len(goals),
        goals_achieved_or_sustaining=met,
        recent_outcome_totals=totals,
        recent_outcomes_above_cutoff=above,
        open_alliance_concern=concern,
        ready=bool(goals) and met == len(goals) and above and not concern,
    )


async def plan_readiness(
    db: AsyncSession, principal: Principal, relationship_id: uuid.UUID
) -> Readiness:
    """The readiness summary for ending: goals met, recent outcomes above the cutoff, and no
    open alliance concern (the latest session check-in raised none)."""
    relationship, _ = await _relationship_of_party(db, principal, relationship_id)
    await audit.record(db, principal, "read", "care_plan", [relationship.id])
    return await _readiness(db, relationship)


async def change_plan(
    db: AsyncSession, principal: Principal, relationship_id: uuid.UUID, change: PlanChange
) -> CareRelationshipView:
    """The clinician records ending criteria and moves the plan active -> ending -> completed.

    Completing the plan is the planned discharge: the relationship ends with it.
    """
    relationship, role = await _relationship_of_party(db, principal, relationship_id)
    if role != "clinician":
        raise Forbidden("only the clinician changes the plan")
    if relationship.plan_status == "completed":
        raise PlanClosed(f"the plan of {relationship_id} is completed")
    if change.ending_criteria is not None:
        relationship.ending_criteria = change.ending_criteria
    if change.plan_status is not None:
        if PLAN_STEPS.get(relationship.plan_status) != change.plan_status:
            raise PlanClosed(
                f"plan_status: a plan that is {relationship.plan_status} cannot become "
                f"{change.plan_status}",
                field="plan_status",
            )
        readiness = await _readiness(db, relationship)
        relationship.plan_status = change.plan_status
        event = PlanEndingStarted if change.plan_status == "ending" else PlanCompleted
        if change.plan_status == "completed":
            relationship.status = "ended"
            relationship.ended_at = utc_now()
        add_event(
            db,
            event(
                relationship_id=relationship.id,
                clinician_id=relationship.clinician_id,
                client_id=relationship.client_id,
                ready=readiness.ready,
                at=utc_now(),
            ),
            source=SOURCE,
        )
    await audit.record(db, principal, "update", "care_plan", [relationship.id])
    return CareRelationshipView.model_validate(relationship)


# Values


async def current_value(
    db: AsyncSession, client_id: uuid.UUID, value_id: uuid.UUID, field: str
) -> ClientValue:
    value = await repository.get_value(db, value_id)
    if value is None or value.client_id != client_id or value.superseded_at is not None:
        raise UnknownValue(
            f"{field}: {value_id} is not one of the client's current values", field=field
        )
    return value


async def add_value(db: AsyncSession, principal: Principal, new_value: NewValue) -> ValueView:
    """The client writes down a value, or revises one (the old entry is kept, superseded)."""
    principal.require_role("client")
    value = ClientValue(
        client_id=principal.user_id,
        statement=new_value.statement,
        supersedes_id=new_value.supersedes_id,
    )
    if new_value.supersedes_id is not None:
        old = await current_value(db, principal.user_id, new_value.supersedes_id, "supersedes_id")
        old.superseded_at = value.created_at
    records.add(db, value)
    await audit.record(db, principal, "create", "value", [value.id])
    return ValueView.model_validate(value)


async def list_values(
    db: AsyncSession, principal: Principal, client_id: uuid.UUID | None
) -> list[ValueView]:
    """A client's values with their history: for the client, and for their clinicians."""
    if principal.role == "client":
        if client_id is not None and client_id != principal.user_id:
            raise Forbidden("clients see only their own values")
        client_id = principal.user_id
    elif principal.role == "clinician":
        if client_id is None:
            raise InvalidRequest("client_id: required for a clinician", field="client_id")
        await require_relationship(db, principal.user_id, client_id, "client_id")
    else:
        raise Forbidden("requires role clinician or client")
    values = await repository.list_values(db, client_id)
    await audit.record(db, principal, "read", "value", (v.id for v in values))
    return [ValueView.model_validate(v) for v in values]
