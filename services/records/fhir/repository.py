"""Reading one client's rows for the export."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import (
    Appointment,
    CareRelationship,
    CheckIn,
    Goal,
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
