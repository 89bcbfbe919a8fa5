"""The notes' HTTP routes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request

from services.records import audit
from services.records.errors import (
    ChatTranscriptNotFound,
    ChatTranscriptsNotKept,
    NotYourRecord,
    SessionRecordNotFound,
)
from services.records.notes import service
from services.records.notes.schemas import (
    ChatTranscriptIn,
    ChatTranscriptView,
    ClinicSettingsView,
    NewNote,
    NoteView,
)
from services.records.settings import RecordsSettings
from shared.dependencies import SessionDep
from shared.openapi import error_responses
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


async def _settings(request: Request) -> RecordsSettings:
    settings: RecordsSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[RecordsSettings, Depends(_settings)]


@router.get("/clinic/settings")
async def read_clinic_settings(
    principal: CurrentPrincipal, settings: SettingsDep
) -> ClinicSettingsView:
    """What the pages need to know of the clinic's choices: whether a call's chat is kept in
    the clinician's private record (the pages say so to everyone in the call)."""
    return ClinicSettingsView(keep_chat_transcripts=settings.keep_chat_transcripts)


@router.post(
    "/sessions/{session_id}/chat-transcript",
    responses=error_responses(ChatTranscriptsNotKept, NotYourRecord, SessionRecordNotFound),
)
async def keep_chat_transcript(
    principal: CurrentPrincipal,
    session_id: uuid.UUID,
    transcript: Annotated[ChatTranscriptIn, Body()],
    db: SessionDep,
    settings: SettingsDep,
) -> ChatTranscriptView:
    """Keep the call's chat (the `chat-message`s the clinician's page received) in the
    clinician's private record: only the session's clinician (403 for anyone else), only when
    the clinic keeps chat transcripts (403 `ChatTranscriptsNotKept` when it does not). Adds to
    what is kept already; a message sent again is kept once."""
    return await service.keep_chat_transcript(
        db, principal, session_id, transcript, kept=settings.keep_chat_transcripts
    )


@router.get(
    "/sessions/{session_id}/chat-transcript",
    responses=error_responses(ChatTranscriptNotFound, NotYourRecord, SessionRecordNotFound),
)
async def read_chat_transcript(
    principal: CurrentPrincipal, session_id: uuid.UUID, db: SessionDep
) -> ChatTranscriptView:
    """The session's kept chat, for its clinician alone (403 for anyone else, the client
    included; 404 when none was kept)."""
    return await service.read_chat_transcript(db, principal, session_id)
