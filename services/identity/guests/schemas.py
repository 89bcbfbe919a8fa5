"""Guest links' HTTP request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.catalog import GuestRelationship

GuestLinkStatus = Literal["pending", "redeemed", "expired", "revoked"]


class GuestLinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: uuid.UUID
    relationship: GuestRelationship = Field(
        description="who the guest is to the session, from a fixed list (no free text)"
    )


class GuestLinkView(BaseModel):
    guest_id: uuid.UUID
    session_id: uuid.UUID
    relationship: GuestRelationship
    status: GuestLinkStatus
    created_at: datetime
    expires_at: datetime
    redeemed_at: datetime | None
    revoked_at: datetime | None


class GuestLinkIssued(GuestLinkView):
    link_token: str = Field(
        description=(
            "pass to the guest (e.g. as /guest#<token>); works once, until expires_at; shown "
            "only now"
        )
    )


class GuestLinkRedemption(BaseModel):
    model_config = ConfigDict(extra="forbid")

    link_token: str = Field(min_length=1, max_length=200)


class GuestToken(BaseModel):
    token: str = Field(
        description=(
            "the guest's token (role `guest`, for this session only): the `join` message's "
            "token on the signaling socket"
        )
    )
    expires_in: int
    guest_id: uuid.UUID
    session_id: uuid.UUID
    relationship: GuestRelationship
