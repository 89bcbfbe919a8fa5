"""The directory's HTTP response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class DirectoryEntry(BaseModel):
    """Another part of Rapport's view of an account; ``email`` only for oneself and admins."""

    id: uuid.UUID
    display_name: str
    time_zone: str
    role: Literal["client", "clinician", "admin"]
    email: str | None = None


class InvitationView(BaseModel):
    email: str
    status: Literal["pending", "accepted", "expired"]
    created_at: datetime
    expires_at: datetime
    accepted_at: datetime | None
    user_id: uuid.UUID | None = Field(description="the account that accepted it")
