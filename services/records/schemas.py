"""The records API's request and response bodies (docs/contracts.md, "records")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
)

NOTE_MAX_LENGTH = 2000
STATEMENT_MAX_LENGTH = 1000


def _json_number(value: object) -> object:
    # A rating is a JSON number: 7 or 7.0 (the same integer to JSON Schema), never "7" or true.
    if isinstance(value, bool | str):
        raise ValueError("must be a number")
    return value


Rating = Annotated[int, Field(ge=0, le=10), BeforeValidator(_json_number)]


# Free text must hold something besides whitespace: bodies strip it (RequestBody), and the
# pattern says so in the schema, where min_length alone would let "\u00a0" through.
NON_BLANK = r"\S"


class RequestBody(BaseModel):
    """Request bodies refuse unknown fields, so a typo is a 422 rather than silently ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class View(BaseModel):
    """Response bodies, read from table rows."""

    model_config = ConfigDict(from_attributes=True)


class GoalUpdateView(View):
    id: uuid.UUID
    goal_id: uuid.UUID
    session_id: uuid.UUID | None
    author_id: uuid.UUID
    author_role: str
    progress: int
    # None when the reader may not see it (a client reading the clinician's note).
    note: str | None
    recorded_at: datetime
    corrects_id: uuid.UUID | None = None
    entered_in_error: bool = False
