"""Clinician notes: private (clinician only) or shared with the client."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import audit
from services.records import repository as records
from services.records.access import party_role, reader_role, require_relationship
from services.records.errors import (
    ChatTranscriptNotFound,
    ChatTranscriptsNotKept,
    NotYourRecord,
    SessionRecordNotFound,
    UnknownSession,
)
from services.records.models import (
    ChatTranscriptLine,
    ClinicianNote,
    SessionRecord,
)
from services.records.notes import repository
from services.records.notes.schemas import (
    ChatLineView,
    ChatTranscriptIn,
    ChatTranscriptView,
    NewNote,
    NoteView,
)
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


async def _own_session(
    db: AsyncSession, principal: Principal, session_id: uuid.UUID
) -> SessionRecord:
    record = await records.get_session_record(db, session_id)
    if record is None:
        raise SessionRecordNotFound(f"no session {session_id}")
    if party_role(principal, record.clinician_id, record.client_id) != "clinician":
        raise NotYourRecord("only the session's clinician keeps and reads its chat")
    return record


async def keep_chat_transcript(
    db: AsyncSession,
    principal: Principal,
    session_id: uuid.UUID,
    transcript: ChatTranscriptIn,
    *,
    kept: bool,
) -> ChatTranscriptView:
    """The session's clinician keeps the call's chat in their private record, when the clinic
    chose to (``kept``). Messages already kept (same sender, time and text) are not kept
    twice, so a page may send a call's chat again. Like a note, it goes into no event."""
    if not kept:
        raise ChatTranscriptsNotKept(
            "this clinic does not keep chat transcripts: the call's chat is not saved"
        )
    record = await _own_session(db, principal, session_id)
    members = {"clinician": record.clinician_id, "client": record.client_id}
    for index, line in enumerate(transcript.messages):
        if line.sender_role in members and line.sender_id != members[line.sender_role]:
            raise InvalidRequest(
                f"messages.{index}.sender_id: not the session's {line.sender_role}",
                field=f"messages.{index}.sender_id",
            )
    existing = await repository.chat_lines(db, session_id)
    seen = {(line.sender_id, line.sent_at, line.text) for line in existing}
    new = []
    for line in transcript.messages:
        key = (line.sender_id, line.sent_at, line.text)
        if key in seen:
            continue
        seen.add(key)
        new.append(
            ChatTranscriptLine(
                session_id=session_id,
                sender_id=line.sender_id,
                sender_role=line.sender_role,
                text=line.text,
                sent_at=line.sent_at,
            )
        )
    repository.add_chat_lines(db, new)
    action = "update" if existing else "create"
    await audit.record(db, principal, action, "chat_transcript", [session_id])
    lines = sorted([*existing, *new], key=lambda line: line.sent_at)
    return ChatTranscriptView(
        session_id=session_id, messages=[ChatLineView.model_validate(line) for line in lines]
    )


async def read_chat_transcript(
    db: AsyncSession, principal: Principal, session_id: uuid.UUID
) -> ChatTranscriptView:
    """The call's chat kept so far, for the session's clinician alone."""
    await _own_session(db, principal, session_id)
    lines = await repository.chat_lines(db, session_id)
    if not lines:
        raise ChatTranscriptNotFound("nothing of this session's chat has been kept")
    await audit.record(db, principal, "read", "chat_transcript", [session_id])
    return ChatTranscriptView(
        session_id=session_id, messages=[ChatLineView.model_validate(line) for line in lines]
    )
