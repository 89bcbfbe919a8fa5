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


class Contact(BaseModel):
    """Where and how to reach a person (internal API, for the notifications service only)."""

    user_id: uuid.UUID
    email: str
    display_name: str
    time_zone: str
    role: Literal["client", "clinician", "admin"]
    active: bool


class DeliverableLink(BaseModel):
    """A reset or invitation token with its address (internal API, notifications only)."""

    email: str
    token: str
    expires_at: datetime
    user_id: uuid.UUID | None = Field(None, description="the account a reset is for")
    display_name: str | None = Field(None, description="the person's name, when they have one")
    inviter_display_name: str | None = Field(None, description="who sent an invitation")
