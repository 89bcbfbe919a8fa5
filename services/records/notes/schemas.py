"""What a note request carries, and how a note is shown."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import Field

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
