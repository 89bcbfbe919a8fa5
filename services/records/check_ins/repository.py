"""Reading and writing check-ins."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import CheckIn


def add(db: AsyncSession, check_in: CheckIn) -> None:
    """Stage a new check-in in the unit of work (it is written when it commits)."""
    db.add(check_in)


async def get_check_in(db: AsyncSession, session_id: uuid.UUID, kind: str) -> CheckIn | None:
    query = select(CheckIn).where(CheckIn.session_id == session_id, CheckIn.kind == kind)
    return (await db.exec(query)).first()


async def latest_outcome_check_in(
    db: AsyncSession, clinician_id: uuid.UUID, client_id: uuid.UUID
) -> CheckIn | None:
    """The client's most recent outcome check-in with this clinician."""
    query = (
        select(CheckIn)
        .where(
            CheckIn.clinician_id == clinician_id,
            CheckIn.client_id == client_id,
            CheckIn.kind == "outcome",
        )
        .order_by(col(CheckIn.submitted_at).desc(), col(CheckIn.id).desc())
        .limit(1)
    )
    return (await db.exec(query)).first()


async def list_check_ins_in_session(db: AsyncSession, session_id: uuid.UUID) -> Sequence[CheckIn]:
    query = (
        select(CheckIn)
        .where(CheckIn.session_id == session_id)
        .order_by(col(CheckIn.submitted_at), col(CheckIn.id))
    )
    return (await db.exec(query)).all()
