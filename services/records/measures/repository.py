"""Reading and writing measure assignments and responses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import MeasureAssignment, MeasureResponse, SessionRecord


def add(db: AsyncSession, *rows: MeasureAssignment | MeasureResponse) -> None:
    """Stage rows in the unit of work (written when it commits)."""
    db.add_all(rows)


async def get_assignment(
    db: AsyncSession, clinician_id: uuid.UUID, client_id: uuid.UUID, instrument: str
) -> MeasureAssignment | None:
    query = select(MeasureAssignment).where(
        MeasureAssignment.clinician_id == clinician_id,
        MeasureAssignment.client_id == client_id,
        MeasureAssignment.instrument == instrument,
    )
    return (await db.exec(query)).first()


async def list_assignments(
    db: AsyncSession, clinician_id: uuid.UUID, client_id: uuid.UUID
) -> Sequence[MeasureAssignment]:
    query = (
        select(MeasureAssignment)
        .where(
            MeasureAssignment.clinician_id == clinician_id,
            MeasureAssignment.client_id == client_id,
        )
        .order_by(col(MeasureAssignment.assigned_at), col(MeasureAssignment.instrument))
    )
    return (await db.exec(query)).all()


async def get_response(db: AsyncSession, response_id: uuid.UUID) -> MeasureResponse | None:
    return await db.get(MeasureResponse, response_id)


async def list_responses(
    db: AsyncSession, client_id: uuid.UUID, clinician_ids: Sequence[uuid.UUID] | None = None
) -> Sequence[MeasureResponse]:
    """A client's responses, oldest first (only those clinicians' when given)."""
    query = select(MeasureResponse).where(MeasureResponse.client_id == client_id)
    if clinician_ids is not None:
        query = query.where(col(MeasureResponse.clinician_id).in_(clinician_ids))
    query = query.order_by(col(MeasureResponse.completed_at), col(MeasureResponse.id))
    return (await db.exec(query)).all()


async def responses_of_clinician(
    db: AsyncSession, clinician_id: uuid.UUID
) -> Sequence[MeasureResponse]:
    """Every response given to one clinician, oldest first (the caseload view)."""
    query = (
        select(MeasureResponse)
        .where(MeasureResponse.clinician_id == clinician_id)
        .order_by(col(MeasureResponse.completed_at), col(MeasureResponse.id))
    )
    return (await db.exec(query)).all()


async def sessions_held(db: AsyncSession, clinician_id: uuid.UUID, client_id: uuid.UUID) -> int:
    """How many of the pair's sessions have been held (completed) so far."""
    query = select(func.count()).where(
        SessionRecord.clinician_id == clinician_id,
        SessionRecord.client_id == client_id,
        SessionRecord.status == "completed",
    )
    return int((await db.exec(query)).one())


async def sessions_held_by_client(
    db: AsyncSession, clinician_id: uuid.UUID
) -> dict[uuid.UUID, int]:
    query = (
        select(SessionRecord.client_id, func.count())
        .where(SessionRecord.clinician_id == clinician_id, SessionRecord.status == "completed")
        .group_by(col(SessionRecord.client_id))
    )
    return {client_id: int(count) for client_id, count in (await db.exec(query)).all()}


async def assignments_of_client(
    db: AsyncSession, client_id: uuid.UUID
) -> Sequence[MeasureAssignment]:
    query = (
        select(MeasureAssignment)
        .where(MeasureAssignment.client_id == client_id)
        .order_by(col(MeasureAssignment.assigned_at), col(MeasureAssignment.instrument))
    )
    return (await db.exec(query)).all()


async def answered_in_session(
    db: AsyncSession, session_id: uuid.UUID, instrument: str
) -> MeasureResponse | None:
    query = select(MeasureResponse).where(
        MeasureResponse.session_id == session_id, MeasureResponse.instrument == instrument
    )
    return (await db.exec(query)).first()


async def responses_to(
    db: AsyncSession, clinician_id: uuid.UUID, client_id: uuid.UUID, instrument: str
) -> Sequence[MeasureResponse]:
    query = (
        select(MeasureResponse)
        .where(
            MeasureResponse.clinician_id == clinician_id,
            MeasureResponse.client_id == client_id,
            MeasureResponse.instrument == instrument,
        )
        .order_by(col(MeasureResponse.completed_at))
    )
    return (await db.exec(query)).all()
