"""Reading the rows behind the FHIR export and the FHIR API's reads and searches."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, false, func, or_, true
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.fhir import rules
from services.records.fhir.search import Search, TimeRange
from services.records.models import (
    Appointment,
    CareRelationship,
    CheckIn,
    Goal,
    GoalUpdate,
    KnownUser,
    SessionAttendance,
    SessionRecord,
)


async def client_rows(
    db: AsyncSession, client_id: uuid.UUID, clinician_ids: Collection[uuid.UUID] | None
) -> tuple[
    Sequence[CareRelationship],
    Sequence[Appointment],
    Sequence[SessionRecord],
    Sequence[Goal],
    Sequence[CheckIn],
]:
    """A client's relationships, appointments, sessions, goals and check-ins, oldest first,
    limited to those clinicians' when ``clinician_ids`` is given."""

    def mine(model: Any) -> Any:
        query = select(model).where(model.client_id == client_id)
        if clinician_ids is not None:
            query = query.where(col(model.clinician_id).in_(clinician_ids))
        return query

    relationships = (
        await db.exec(mine(CareRelationship).order_by(col(CareRelationship.started_at)))
    ).all()
    appointments = (await db.exec(mine(Appointment).order_by(col(Appointment.starts_at)))).all()
    sessions = (await db.exec(mine(SessionRecord).order_by(col(SessionRecord.created_at)))).all()
    goals = (await db.exec(mine(Goal).order_by(col(Goal.created_at), col(Goal.id)))).all()
    check_ins = (await db.exec(mine(CheckIn).order_by(col(CheckIn.submitted_at)))).all()
    return relationships, appointments, sessions, goals, check_ins


# The FHIR API's searches: each resource type's rows as filtered by a Search and limited to
# the reader's clinicians, with the column each filter applies to.


@dataclass(frozen=True)
class _Table:
    model: Any
    id: Any
    client: Any
    clinician: Any
    date: Any
    updated: Any
    order: tuple[Any, ...]


def _tables() -> dict[str, _Table]:
    return {
        "Appointment": _Table(
            Appointment,
            Appointment.id,
            Appointment.client_id,
            Appointment.clinician_id,
            Appointment.starts_at,
            Appointment.updated_at,
            # Pages follow what never changes: a moved appointment keeps its place, so a
            # partner paging meanwhile neither skips nor repeats it.
            (col(Appointment.created_at), col(Appointment.id)),
        ),
        "Encounter": _Table(
            SessionRecord,
            SessionRecord.session_id,
            SessionRecord.client_id,
            SessionRecord.clinician_id,
            func.coalesce(SessionRecord.connected_at, SessionRecord.admitted_at),
            SessionRecord.updated_at,
            (col(SessionRecord.created_at), col(SessionRecord.session_id)),
        ),
        "Goal": _Table(
            Goal,
            Goal.id,
            Goal.client_id,
            Goal.clinician_id,
            Goal.created_at,
            Goal.updated_at,
            (col(Goal.created_at), col(Goal.id)),
        ),
        "CarePlan": _Table(
            CareRelationship,
            CareRelationship.id,
            CareRelationship.client_id,
            CareRelationship.clinician_id,
            CareRelationship.started_at,
            CareRelationship.updated_at,
            (col(CareRelationship.started_at), col(CareRelationship.id)),
        ),
        "QuestionnaireResponse": _Table(
            CheckIn,
            CheckIn.id,
            CheckIn.client_id,
            CheckIn.clinician_id,
            CheckIn.submitted_at,
            CheckIn.submitted_at,
            (col(CheckIn.submitted_at), col(CheckIn.id)),
        ),
        "Observation": _Table(
            GoalUpdate,
            GoalUpdate.id,
            Goal.client_id,
            Goal.clinician_id,
            GoalUpdate.recorded_at,
            func.coalesce(GoalUpdate.entered_in_error_at, GoalUpdate.recorded_at),
            (col(GoalUpdate.recorded_at), col(GoalUpdate.id)),
        ),
    }


def _status_condition(resource_type: str, statuses: frozenset[str]) -> Any:
    """The rows whose FHIR status is one of ``statuses`` (records stores its own codes for
    some types: the inverse of rules' mappings)."""
    if resource_type == "Appointment":
        return col(Appointment.status).in_(statuses)
    if resource_type == "Goal":
        return col(Goal.status).in_(statuses)
    if resource_type == "CarePlan":
        stored = {code for code, fhir in rules.CARE_PLAN_STATUS.items() if fhir in statuses}
        return col(CareRelationship.status).in_(stored)
    if resource_type == "QuestionnaireResponse":
        return true() if "completed" in statuses else false()
    conditions: list[Any] = []
    if resource_type == "Observation":
        if "final" in statuses:
            conditions.append(col(GoalUpdate.entered_in_error_at).is_(None))
        if "entered-in-error" in statuses:
            conditions.append(col(GoalUpdate.entered_in_error_at).is_not(None))
        return or_(false(), *conditions)
    # Encounter: a no-show is cancelled whatever the stored status says.
    no_show = func.coalesce(SessionRecord.outcome, "") == "no-show"
    if "cancelled" in statuses:
        conditions.append(or_(no_show, col(SessionRecord.status) == "cancelled"))
    stored = {code for code, fhir in rules.ENCOUNTER_STATUS.items() if fhir in statuses}
    stored.discard("cancelled")
    if stored:
        conditions.append(and_(~no_show, col(SessionRecord.status).in_(stored)))
    if "unknown" in statuses:
        conditions.append(
            and_(~no_show, col(SessionRecord.status).not_in(list(rules.ENCOUNTER_STATUS)))
        )
    return or_(false(), *conditions)


def _range(column: Any, span: TimeRange) -> list[Any]:
    conditions = []
    if span.start is not None:
        conditions.append(column >= span.start)
    if span.end is not None:
        conditions.append(column < span.end)
    return conditions


async def search_rows(
    db: AsyncSession, search: Search, clinician_ids: Collection[uuid.UUID]
) -> tuple[list[Any], int]:
    """One page of ``search``'s rows among those of ``clinician_ids``, and how many match in
    all. Observations come as ``(GoalUpdate, Goal)`` pairs, Patients as client ids."""
    if search.resource_type == "Patient":
        return await _search_patients(db, search, clinician_ids)
    table = _tables()[search.resource_type]
    conditions = [col(table.clinician).in_(clinician_ids)]
    if search.ids is not None:
        conditions.append(col(table.id).in_(search.ids))
    if search.patient is not None:
        conditions.append(table.client == search.patient)
    conditions += _range(table.date, search.date)
    conditions += _range(table.updated, search.last_updated)
    if search.statuses is not None:
        conditions.append(_status_condition(search.resource_type, search.statuses))
    if search.resource_type == "Observation":
        query: Any = select(GoalUpdate, Goal).join(Goal, col(Goal.id) == col(GoalUpdate.goal_id))
        counting: Any = (
            select(func.count())
            .select_from(GoalUpdate)
            .join(Goal, col(Goal.id) == col(GoalUpdate.goal_id))
        )
    else:
        query = select(table.model)
        counting = select(func.count()).select_from(table.model)
    total = (await db.exec(counting.where(*conditions))).one()
    page = query.where(*conditions).order_by(*table.order).offset(search.offset)
    rows = (await db.exec(page.limit(search.count))).all()
    return list(rows), int(total)


async def _search_patients(
    db: AsyncSession, search: Search, clinician_ids: Collection[uuid.UUID]
) -> tuple[list[Any], int]:
    # A client is the reader's patient while any care relationship (open or ended) ties
    # them to one of the reader's clinicians.
    conditions = [
        col(KnownUser.role) == "client",
        col(KnownUser.user_id).in_(
            select(CareRelationship.client_id).where(
                col(CareRelationship.clinician_id).in_(clinician_ids)
            )
        ),
    ]
    if search.ids is not None:
        conditions.append(col(KnownUser.user_id).in_(search.ids))
    conditions += _range(KnownUser.registered_at, search.last_updated)
    total = (await db.exec(select(func.count()).select_from(KnownUser).where(*conditions))).one()
    rows = (
        await db.exec(
            select(KnownUser)
            .where(*conditions)
            .order_by(col(KnownUser.registered_at), col(KnownUser.user_id))
            .offset(search.offset)
            .limit(search.count)
        )
    ).all()
    return list(rows), int(total)


async def attendance_of_sessions(
    db: AsyncSession, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Sequence[SessionAttendance]]:
    """Everyone signaling saw in each of the sessions, in order of arrival."""
    attendance: dict[uuid.UUID, list[SessionAttendance]] = {s: [] for s in session_ids}
    if not session_ids:
        return {}
    query = (
        select(SessionAttendance)
        .where(col(SessionAttendance.session_id).in_(session_ids))
        .order_by(col(SessionAttendance.joined_at), col(SessionAttendance.user_id))
    )
    for row in (await db.exec(query)).all():
        attendance[row.session_id].append(row)
    return {session_id: rows for session_id, rows in attendance.items()}


async def goals_of_relationships(
    db: AsyncSession, relationships: Sequence[CareRelationship]
) -> list[Goal]:
    """The goals of these relationships' clients with their clinicians (CarePlan.goal)."""
    if not relationships:
        return []
    pairs = [
        and_(col(Goal.client_id) == r.client_id, col(Goal.clinician_id) == r.clinician_id)
        for r in relationships
    ]
    result = await db.exec(select(Goal).where(or_(*pairs)).order_by(col(Goal.created_at)))
    return list(result.all())
