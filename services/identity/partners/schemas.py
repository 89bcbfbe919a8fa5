"""Partner apps' HTTP bodies, and the OAuth token endpoint's form and answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from services.identity.accounts import DisplayName


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
