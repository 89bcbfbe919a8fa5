"""Accounts' HTTP request and response bodies."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from services.identity.models import DISPLAY_NAME_MAX_LENGTH
from services.identity.passwords import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from shared.time_formats import TimeZoneName

# A name of blanks only is refused after stripping; the pattern says so in the schema too.
DisplayName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=DISPLAY_NAME_MAX_LENGTH, pattern=r"\S"
    ),
]


class RegisterRequest(BaseModel):
    """Self-service sign-up. Admin accounts are created with the CLI only."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)
    display_name: DisplayName
    role: Literal["client", "clinician"]
    time_zone: TimeZoneName = "UTC"
    invitation: str | None = Field(
        default=None, max_length=200, description="the token from a clinician's invitation"
    )


class User(BaseModel):
    """An account as other parts of Rapport see it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str
    role: Literal["client", "clinician", "admin"]
    time_zone: str = "UTC"


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["client", "clinician", "admin"]


class ProfileChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName | None = None
    time_zone: TimeZoneName | None = None
