"""Reading across records: progress for charts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import audit, repository
from services.records.access import (
    is_partner,
    partner_clinicians,
)
from services.records.models import (
    CheckIn,
)
from services.records.schemas import (
    PartyProgress,
    ProgressPage,
    SessionProgress,
)
from shared.errors import Forbidden
from shared.scopes import PartnerScope
from shared.tokens import Principal

# Progress data for charts


async def client_progress(
    db: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    *,
    goal_id: uuid.UUID | None,
    starts_from: datetime | None,
    starts_before: datetime | None,
    offset: int,
    limit: int,
) -> ProgressPage:
    """Per session: each goal's progress from both sides, the check-in totals and flags.

    A clinician sees their sessions with the client; a client sees all of their own; a
    partner app with ``goals:read`` the sessions with the clinicians who granted it access,
    with the goal ratings only: no check-in totals or flags, which no scope grants.
    Corrected (entered-in-error) updates are left out; the latest standing rating counts.
    """
    clinician_ids: frozenset[uuid.UUID] | None
    if principal.role == "clinician":
        clinician_ids = frozenset({principal.user_id})
    elif principal.role == "client" and principal.user_id == client_id:
        clinician_ids = None
    elif is_partner(principal):
        clinician_ids = await partner_clinicians(db, principal, PartnerScope.GOALS_READ)
    else:
        raise Forbidden("a client's progress is for the client and their clinicians")
    rows = await repository.sessions_of_client(
        db, client_id, clinician_ids, starts_from, starts_before, offset, limit + 1
    )
    page, more = rows[:limit], len(rows) > limit
    session_ids = [record.session_id for record, _ in page]
    updates = await repository.goal_updates_in_sessions(db, session_ids)
    check_ins = (
        [] if is_partner(principal) else await repository.check_ins_in_sessions(db, session_ids)
    )
    ratings: dict[uuid.UUID, dict[uuid.UUID, dict[str, int]]] = {}
    for update in updates:
        if goal_id is not None and update.goal_id != goal_id:
            continue
        assert update.session_id is not None
        by_goal = ratings.setdefault(update.session_id, {})
        by_goal.setdefault(update.goal_id, {})[update.author_role] = update.progress
    totals: dict[uuid.UUID, dict[str, CheckIn]] = {}
    for check_in in check_ins:
        totals.setdefault(check_in.session_id, {})[check_in.kind] = check_in
    items = []
    for record, appointment in page:
        taken = totals.get(record.session_id, {})
        goals = ratings.get(record.session_id, {})
        items.append(
            SessionProgress(
                session_id=record.session_id,
                starts_at=appointment.starts_at,
                status=record.status,
                goals=[
                    PartyProgress(goal_id=g, clinician=r.get("clinician"), client=r.get("client"))
                    for g, r in goals.items()
                ],
                outcome_total=taken["outcome"].total if "outcome" in taken else None,
                session_total=taken["session"].total if "session" in taken else None,
                flags=sorted({f for c in taken.values() for f in c.flags.split(",") if f}),
            )
        )
    await audit.record(db, principal, "read", "session_record", session_ids)
    # The ratings and totals shown come from these rows: their reads are audited too.
    shown = (u.id for u in updates if goal_id is None or u.goal_id == goal_id)
    await audit.record(db, principal, "read", "goal_update", shown)
    await audit.record(db, principal, "read", "check_in", (c.id for c in check_ins))
    return ProgressPage(items=items, next_offset=offset + limit if more else None)


# FHIR export
