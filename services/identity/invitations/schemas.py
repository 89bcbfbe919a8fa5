"""Invitations' HTTP request and response bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class InvitationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr


class InvitationIssued(BaseModel):
    invitation: str = Field(description="pass to the client; single use; shown only now")
    email: str
    expires_at: datetime
