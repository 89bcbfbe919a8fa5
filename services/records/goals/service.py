"""Goals with two-party agreement, and their append-only update history."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import access, audit
from services.records import repository as records
from services.records.access import (
    SOURCE,
    PartyRole,
    actor_uuid,
    goal_update_view,
    is_partner,
    partner_clinicians,
    party_role,
    require_client,
    require_relationship,
)
from services.records.errors import (
    AlreadyAgreed,
    GoalNotActive,
    GoalNotFound,
    UnknownGoalUpdate,
    UnknownSession,
)
from services.records.goals import repository
from services.records.goals.schemas import (
    GoalStatusChange,
    GoalView,
    NewGoal,
    NewGoalUpdate,
)
from services.records.models import (
    Goal,
    GoalAgreement,
    GoalUpdate,
)
from services.records.partnership import current_value
from services.records.schemas import GoalUpdateView
from shared.db import utc_now
from shared.errors import Forbidden, InvalidRequest
from shared.events.catalog import (
    GoalAchieved,
    GoalAgreed,
    GoalProposed,
    GoalUpdated,
)
from shared.events.outbox import add_event
from shared.scopes import PartnerScope
from shared.tokens import Principal

# Goals


async def _goal_view(db: AsyncSession, goal: Goal) -> GoalView:
    agreements = await repository.list_goal_agreements(db, goal.id)
    return GoalView.model_validate(goal).model_copy(
        update={"agreed_by": [a.party_role for a in agreements]}
    )


async def _goal_of_party(
    db: AsyncSession, principal: Principal, goal_id: uuid.UUID
) -> tuple[Goal, PartyRole]:
    goal = await records.get_goal(db, goal_id)
    if goal is None:
        raise GoalNotFound(f"no goal {goal_id}")
    return goal, party_role(principal, goal.clinician_id, goal.client_id)


def _goal_event(goal: Goal) -> dict[str, object]:
    return {
        "goal_id": goal.id,
        "clinician_id": goal.clinician_id,
        "client_id": goal.client_id,
        "lifecycle_status": goal.status,
        "at": utc_now(),
    }


async def propose_goal(db: AsyncSession, principal: Principal, new_goal: NewGoal) -> GoalView:
    """Either party proposes a goal in their care relationship; the proposer agrees to it.

    It stays ``proposed`` until the other party agrees too (:func:`agree_to_goal`).
    """
    principal.require_role("clinician", "client")
    role: PartyRole = "clinician" if principal.role == "clinician" else "client"
    if role == "clinician":
        if new_goal.client_id is None:
            raise InvalidRequest("client_id: a clinician names the client", field="client_id")
        clinician_id, client_id = principal.user_id, new_goal.client_id
        await require_client(db, client_id)
        await require_relationship(db, clinician_id, client_id, "client_id")
    else:
        if new_goal.clinician_id is None:
            raise InvalidRequest(
                "clinician_id: a client names their clinician", field="clinician_id"
            )
        clinician_id, client_id = new_goal.clinician_id, principal.user_id
        await require_relationship(db, clinician_id, client_id, "clinician_id")
    if new_goal.value_id is not None:
        await current_value(db, client_id, new_goal.value_id, "value_id")
    goal = Goal(
        clinician_id=clinician_id,
        client_id=client_id,
        value_id=new_goal.value_id,
        statement=new_goal.statement,
        target=new_goal.target,
        due_date=new_goal.due_date,
        proposed_by_role=role,
    )
    agreement = GoalAgreement(goal_id=goal.id, party_role=role, agreed_by=principal.user_id)
    records.add(db, goal, agreement)
    add_event(db, GoalProposed(**_goal_event(goal), proposed_by=role), source=SOURCE)
    await audit.record(db, principal, "create", "goal", [goal.id])
    return GoalView.model_validate(goal).model_copy(update={"agreed_by": [role]})


async def agree_to_goal(db: AsyncSession, principal: Principal, goal_id: uuid.UUID) -> GoalView:
    """The other party agrees to a proposed goal; with both agreements it becomes active."""
    goal, role = await _goal_of_party(db, principal, goal_id)
    agreements = await repository.list_goal_agreements(db, goal.id)
    if any(a.party_role == role for a in agreements):
        raise AlreadyAgreed(f"you have already agreed to goal {goal_id}")
    if goal.status != "proposed":
        raise GoalNotActive(f"goal {goal_id} is {goal.status}; only a proposed goal is agreed to")
    records.add(db, GoalAgreement(goal_id=goal.id, party_role=role, agreed_by=principal.user_id))
    agreed_by = {a.party_role for a in agreements} | {role}
    if agreed_by == {"clinician", "client"}:
        goal.status = "active"
        goal.achievement_status = "in-progress"
        add_event(db, GoalAgreed(**_goal_event(goal)), source=SOURCE)
    await audit.record(db, principal, "update", "goal", [goal.id])
    return GoalView.model_validate(goal).model_copy(update={"agreed_by": sorted(agreed_by)})


async def change_goal_status(
    db: AsyncSession, principal: Principal, goal_id: uuid.UUID, change: GoalStatusChange
) -> GoalView:
    """The clinician moves an agreed goal's lifecycle or achievement status (FHIR codes)."""
    goal, role = await _goal_of_party(db, principal, goal_id)
    if role != "clinician":
        raise Forbidden("only the clinician changes a goal's status")
    if goal.status in ("proposed", "entered-in-error") and change.status not in (
        None,
        "cancelled",
        "entered-in-error",
    ):
        raise GoalNotActive(f"status: goal {goal_id} is {goal.status}", field="status")
    if change.status is not None:
        goal.status = change.status
    if change.achievement_status is not None:
        newly_achieved = (
            change.achievement_status == "achieved" and goal.achievement_status != "achieved"
        )
        goal.achievement_status = change.achievement_status
        if newly_achieved:
            add_event(db, GoalAchieved(**_goal_event(goal)), source=SOURCE)
    await audit.record(db, principal, "update", "goal", [goal.id])
    return await _goal_view(db, goal)


async def list_goals(
    db: AsyncSession, principal: Principal, client_id: uuid.UUID | None
) -> list[GoalView]:
    """A clinician's own goals (optionally for one client), a client's own goals, or, for a
    partner app with ``goals:read``, the goals of the clinicians who granted it access."""
    if principal.role == "clinician":
        goals = await records.list_goals(db, clinician_id=principal.user_id, client_id=client_id)
    elif principal.role == "client":
        if client_id is not None and client_id != principal.user_id:
            raise Forbidden("clients see only their own goals")
        goals = await records.list_goals(db, client_id=principal.user_id)
    elif is_partner(principal):
        clinicians = await partner_clinicians(db, principal, PartnerScope.GOALS_READ)
        goals = await records.list_goals(db, clinician_ids=clinicians, client_id=client_id)
    else:
        raise Forbidden("requires role clinician or client")
    await audit.record(db, principal, "read", "goal", (g.id for g in goals))
    return [await _goal_view(db, g) for g in goals]


async def record_goal_update(
    db: AsyncSession, principal: Principal, goal_id: uuid.UUID, new_update: NewGoalUpdate
) -> GoalUpdateView:
    """The goal's clinician or client reports progress, maybe tied to one of their sessions.

    Each side reports separately. History is append-only: to correct an earlier update of
    one's own, send ``corrects_id``; the old entry is then marked entered in error.
    """
    goal, author_role = await _goal_of_party(db, principal, goal_id)
    if goal.status not in ("active", "on-hold"):
        raise GoalNotActive(
            f"goal {goal_id} is {goal.status}: progress is reported on agreed (active) goals"
        )
    if new_update.session_id is not None:
        record = await records.get_session_record(db, new_update.session_id)
        # The same answer for "no such session" and "someone else's session": no oracle.
        if record is None or (record.clinician_id, record.client_id) != (
            goal.clinician_id,
            goal.client_id,
        ):
            raise UnknownSession(
                f"session_id: session {new_update.session_id} is not a session of this goal's "
                "clinician and client",
                field="session_id",
            )
    corrected = None
    if new_update.corrects_id is not None:
        corrected = await records.get_goal_update(db, new_update.corrects_id)
        if (
            corrected is None
            or corrected.goal_id != goal.id
            or corrected.author_id != principal.user_id
            or corrected.entered_in_error_at is not None
        ):
            raise UnknownGoalUpdate(
                f"corrects_id: {new_update.corrects_id} is not an uncorrected update of yours "
                "on this goal",
                field="corrects_id",
            )
    update = GoalUpdate(
        goal_id=goal.id,
        session_id=new_update.session_id,
        author_id=principal.user_id,
        author_role=author_role,
        progress=new_update.progress,
        note=new_update.note,
        corrects_id=new_update.corrects_id,
    )
    add_goal_update(db, goal, update)
    if corrected is not None:
        corrected.entered_in_error_at = update.recorded_at
        await audit.record(db, principal, "update", "goal_update", [corrected.id])
    await audit.record(db, principal, "create", "goal_update", [update.id])
    return goal_update_view(update, author_role, principal.user_id)


def add_goal_update(db: AsyncSession, goal: Goal, update: GoalUpdate) -> None:
    """Stage a new update of ``goal`` and announce it (``GoalUpdated``), whoever wrote it: a
    party through the API, or the clinician sharing progress in a call."""
    records.add(db, update)
    add_event(
        db,
        GoalUpdated(
            goal_update_id=update.id,
            goal_id=goal.id,
            session_id=update.session_id,
            clinician_id=goal.clinician_id,
            client_id=goal.client_id,
            author_role=update.author_role,
            progress=update.progress,
            recorded_at=update.recorded_at,
        ),
        source=SOURCE,
    )


async def goal_history(
    db: AsyncSession, principal: Principal, goal_id: uuid.UUID
) -> list[GoalUpdateView]:
    """Every update of a goal, corrected ones included and marked, oldest first."""
    goal = await records.get_goal(db, goal_id)
    if goal is None:
        raise GoalNotFound(f"no goal {goal_id}")
    reader_role = await access.reader_role(
        db,
        principal,
        goal.clinician_id,
        goal.client_id,
        "goal",
        goal.id,
        partner_scope=PartnerScope.GOALS_READ,
    )
    updates = await repository.list_goal_updates(db, goal.id)
    await audit.record(db, principal, "read", "goal_update", (u.id for u in updates))
    reader = actor_uuid(principal)
    return [goal_update_view(u, reader_role, reader) for u in updates]
