"""Identity's HTTP request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from services.identity.models import DISPLAY_NAME_MAX_LENGTH
from services.identity.passwords import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from shared.time_formats import TimeZoneName

DisplayName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=DISPLAY_NAME_MAX_LENGTH)
]


# Digits (authenticator apps show six), space around them forgiven.
TOTP_CODE = r"^\s*[0-9]*\s*$"


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


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    # No minimum beyond one character: a too-short password is simply wrong, and saying so
    # differently from any other wrong password would only help someone guessing.
    password: str = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)
    # For accounts with two-factor authentication: a TOTP code, or one recovery code.
    otp: str | None = Field(default=None, max_length=10, pattern=TOTP_CODE)
    recovery_code: str | None = Field(default=None, max_length=20)


class User(BaseModel):
    """An account as other parts of Rapport see it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    email: str
    display_name: str
    role: Literal["client", "clinician", "admin"]
    time_zone: str = "UTC"


class LoginResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105  (a scheme name, not a secret)
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_token: str = Field(description="opaque; rotated on every use, shown once")
    refresh_expires_in: int = Field(description="seconds until the refresh token expires unused")
    user: User


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=200)


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["client", "clinician", "admin"]


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


class TotpEnrollment(BaseModel):
    secret: str = Field(description="base32; enter it in an authenticator app, or scan the URI")
    otpauth_uri: str


class TotpConfirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=6, max_length=10, pattern=TOTP_CODE)


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="each works once; shown only now")


class PartnerAppRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: DisplayName
    scopes: list[str] = Field(min_length=1)


class PartnerApp(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    client_id: str
    name: str
    scopes: list[str]


class PartnerAppCredentials(PartnerApp):
    client_secret: str = Field(description="shown only now; stored hashed")


class ClientCredentialsToken(BaseModel):
    """RFC 6749 section 5.1."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105  (a scheme name, not a secret)
    expires_in: int
    scope: str


class ClientCredentialsGrant(BaseModel):
    """The token endpoint's form (RFC 6749 section 4.4.2); the client authenticates with HTTP
    Basic (preferred) or with ``client_id`` and ``client_secret`` in the form."""

    # Each parameter at most once, and no others (the endpoint refuses a repeated one).
    model_config = ConfigDict(extra="forbid")
    grant_type: Literal["client_credentials"]
    scope: str | None = Field(default=None, description="space-separated; default: all granted")
    client_id: str | None = None
    client_secret: str | None = None


class OAuthErrorBody(BaseModel):
    """RFC 6749 section 5.2: the token endpoint's errors keep the protocol's own shape."""

    error: Literal[
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unsupported_grant_type",
        "invalid_scope",
    ]
    error_description: str


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)
    new_password: str = Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)


class PasswordResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr


class PasswordResetConfirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=PASSWORD_MIN_LENGTH, max_length=PASSWORD_MAX_LENGTH)


class ProfileChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName | None = None
    time_zone: TimeZoneName | None = None


class InvitationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr


class InvitationIssued(BaseModel):
    invitation: str = Field(description="pass to the client; single use; shown only now")
    email: str
    expires_at: datetime


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
