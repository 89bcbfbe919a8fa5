"""Clinician notes: private (clinician only) or shared with the client."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import audit
from services.records import repository as records
from services.records.access import reader_role, require_relationship
from services.records.errors import (
    UnknownSession,
)
from services.records.models import (
    ClinicianNote,
)
from services.records.notes import repository
from services.records.notes.schemas import NewNote, NoteView
from shared.errors import Forbidden, InvalidRequest
from shared.tokens import Principal


async def write_note(db: AsyncSession, principal: Principal, new_note: NewNote) -> NoteView:
    """The clinician writes a private or shared note on a client in their care.

    A note's text never goes into an event: nothing is published for notes at all.
    """
    principal.require_role("clinician")
    await require_relationship(db, principal.user_id, new_note.client_id, "client_id")
    if new_note.session_id is not None:
        record = await records.get_session_record(db, new_note.session_id)
        if record is None or (record.clinician_id, record.client_id) != (
            principal.user_id,
            new_note.client_id,
        ):
            raise UnknownSession(
                f"session_id: session {new_note.session_id} is not a session of yours with "
                "this client",
                field="session_id",
            )
    note = ClinicianNote(
        clinician_id=principal.user_id,
        client_id=new_note.client_id,
        session_id=new_note.session_id,
        visibility=new_note.visibility,
        text=new_note.text,
    )
    repository.add(db, note)
    await audit.record(db, principal, "create", "note", [note.id])
    return NoteView.model_validate(note)


async def list_notes(
    db: AsyncSession, principal: Principal, client_id: uuid.UUID | None
) -> list[NoteView]:
    """A clinician's own notes on one client; a client's shared notes. Private stays private."""
    if principal.role == "clinician":
        if client_id is None:
            raise InvalidRequest("client_id: required for a clinician", field="client_id")
        notes = await repository.list_notes(db, client_id=client_id, clinician_id=principal.user_id)
    elif principal.role == "client":
        if client_id is not None and client_id != principal.user_id:
            raise Forbidden("clients see only their own notes")
        notes = await repository.list_notes(db, client_id=principal.user_id, visibility="shared")
    elif principal.role == "admin" and audit.break_glass_reason.get() and client_id is not None:
        await reader_role(db, principal, client_id, client_id, "client", client_id)
        notes = await repository.list_notes(db, client_id=client_id)
    else:
        raise Forbidden("requires role clinician or client")
    await audit.record(db, principal, "read", "note", (n.id for n in notes))
    return [NoteView.model_validate(n) for n in notes]
