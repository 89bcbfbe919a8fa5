"""Sign-in's HTTP request and response bodies."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from services.identity.accounts import UserView
from services.identity.passwords import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH

# Digits (authenticator apps show six), space around them forgiven.
TOTP_CODE = r"^\s*[0-9]*\s*$"


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    # No minimum beyond one character: a too-short password is simply wrong, and saying so
    # differently from any other wrong password would only help someone guessing.
    password: str = Field(min_length=1, max_length=PASSWORD_MAX_LENGTH)
    # For accounts with two-factor authentication: a TOTP code, or one recovery code.
    otp: str | None = Field(default=None, max_length=10, pattern=TOTP_CODE)
    recovery_code: str | None = Field(default=None, max_length=20)


class LoginResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105  (a scheme name, not a secret)
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_token: str = Field(description="opaque; rotated on every use, shown once")
    refresh_expires_in: int = Field(description="seconds until the refresh token expires unused")
    user: UserView


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=200)


class TotpEnrollment(BaseModel):
    secret: str = Field(description="base32; enter it in an authenticator app, or scan the URI")
    otpauth_uri: str


class TotpConfirmation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=6, max_length=10, pattern=TOTP_CODE)


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(description="each works once; shown only now")


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


class SignalingTokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: uuid.UUID


class SignalingTokenResponse(BaseModel):
    token: str
    expires_in: int = Field(description="seconds until the signaling token expires")
