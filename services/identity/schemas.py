"""Identity's HTTP request and response bodies."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from services.identity.models import DISPLAY_NAME_MAX_LENGTH
from services.identity.passwords import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH

DisplayName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=DISPLAY_NAME_MAX_LENGTH)
]


class RegisterRequest(BaseModel):
    """Self-service sign-up. Admin accounts are created with the CLI only."""

    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)
    display_name: DisplayName
    role: Literal["client", "clinician"]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    # No minimum beyond one character: a too-short password is simply wrong, and saying so
    # differently from any other wrong password would only help someone guessing.
    password: str = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)


class User(BaseModel):
    """An account as other parts of Rapport see it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str
    role: Literal["client", "clinician", "admin"]


class LoginResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105  (a scheme name, not a secret)
    expires_in: int = Field(description="seconds until the access token expires")
    user: User


class SignalingTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: uuid.UUID


class SignalingTokenResponse(BaseModel):
    token: str
    expires_in: int = Field(description="seconds until the signaling token expires")


class PublicJwk(BaseModel):
    """An Ed25519 public key in JWK form (RFC 8037)."""

    model_config = ConfigDict(extra="allow")

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    alg: Literal["EdDSA"]
    use: Literal["sig"]


class Jwks(BaseModel):
    keys: list[PublicJwk]
