"""The notes' HTTP routes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.records import audit
from services.records.notes import service
from services.records.notes.schemas import NewNote, NoteView
from shared.dependencies import SessionDep
from shared.tokens import CurrentPrincipal

router = APIRouter(prefix="/v1", tags=["records"], dependencies=[Depends(audit.request_context)])


@router.post("/notes", status_code=201)
async def write_note(principal: CurrentPrincipal, new_note: NewNote, db: SessionDep) -> NoteView:
    """Write a private or shared note on a client (clinicians only)."""
    return await service.write_note(db, principal, new_note)


@router.get("/notes")
async def list_notes(
    principal: CurrentPrincipal,
    db: SessionDep,
    client_id: Annotated[uuid.UUID | None, Query()] = None,
) -> list[NoteView]:
    """A clinician's notes on one client, or a client's shared notes."""
    return await service.list_notes(db, principal, client_id)
