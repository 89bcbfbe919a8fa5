"""Reading and writing clinician notes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import ChatTranscriptLine, ClinicianNote


def add(db: AsyncSession, note: ClinicianNote) -> None:
    """Stage a new note in the unit of work (it is written when it commits)."""
    db.add(note)


async def list_notes(
    db: AsyncSession,
    *,
    client_id: uuid.UUID,
    clinician_id: uuid.UUID | None = None,
    visibility: str | None = None,
) -> Sequence[ClinicianNote]:
    query = select(ClinicianNote).where(ClinicianNote.client_id == client_id)
    if clinician_id is not None:
        query = query.where(ClinicianNote.clinician_id == clinician_id)
    if visibility is not None:
        query = query.where(ClinicianNote.visibility == visibility)
    return (
        await db.exec(query.order_by(col(ClinicianNote.written_at), col(ClinicianNote.id)))
    ).all()


def add_chat_lines(db: AsyncSession, lines: list[ChatTranscriptLine]) -> None:
    db.add_all(lines)


async def chat_lines(db: AsyncSession, session_id: uuid.UUID) -> Sequence[ChatTranscriptLine]:
    query = select(ChatTranscriptLine).where(ChatTranscriptLine.session_id == session_id)
    return (
        await db.exec(query.order_by(col(ChatTranscriptLine.sent_at), col(ChatTranscriptLine.id)))
    ).all()
