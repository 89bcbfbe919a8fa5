"""What a note request carries, and how a note is shown."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from services.records.schemas import NON_BLANK, NOTE_MAX_LENGTH, RequestBody, View


class NewNote(RequestBody):
    client_id: uuid.UUID
    session_id: uuid.UUID | None = None
    visibility: Literal["private", "shared"]
    text: str = Field(min_length=1, max_length=NOTE_MAX_LENGTH, pattern=NON_BLANK)


class NoteView(View):
    id: uuid.UUID
    clinician_id: uuid.UUID
    client_id: uuid.UUID
    session_id: uuid.UUID | None
    visibility: Literal["private", "shared"]
    text: str
    written_at: datetime


# As long as signaling lets a chat message be (services/signaling/schemas.py).
CHAT_MESSAGE_MAX_LENGTH = 2_000


class ChatLineIn(RequestBody):
    """One `chat-message` as the clinician's page received it from signaling."""

    sender_id: uuid.UUID = Field(description="The message's `from`")
    sender_role: Literal["clinician", "client", "guest"] = Field(description="Its `role`")
    text: str = Field(min_length=1, max_length=CHAT_MESSAGE_MAX_LENGTH)
    sent_at: AwareDatetime = Field(description="Its `at`, when signaling relayed it")


class ChatTranscriptIn(RequestBody):
    messages: list[ChatLineIn] = Field(min_length=1, max_length=1000)


class ChatLineView(View):
    sender_id: uuid.UUID
    sender_role: Literal["clinician", "client", "guest"]
    text: str
    sent_at: datetime


class ChatTranscriptView(View):
    """The call's chat kept so far, in the order signaling relayed it."""

    session_id: uuid.UUID
    messages: list[ChatLineView]


class ClinicSettingsView(View):
    # The clinician's page keeps the call's chat in their private record at the call's end.
    keep_chat_transcripts: bool
