"""Partner apps' HTTP bodies, and the OAuth token endpoint's form and answers."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.identity.accounts import DisplayName

JWKS_DESCRIPTION = (
    'SMART backend services: the app\'s public keys as a JWKS (`{"keys": [...]}`; RSA of '
    "at least 2048 bits for RS384 or EC P-384 for ES384, each with a `kid`, no private parts)"
)
JWKS_URL_DESCRIPTION = (
    "SMART backend services: where the app publishes its JWKS (https in production; private "
    "addresses are refused, as for webhook URLs); fetched again when an assertion names a "
    "kid not yet seen"
)


SCOPE_DESCRIPTION = (
    "space-separated partner scopes (`goals:read`) or SMART system scopes (`system/Goal.rs`); "
    "default: all registered"
)


class PartnerAppRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: DisplayName
    scopes: list[str] = Field(min_length=1)
    jwks: dict[str, Any] | None = Field(default=None, description=JWKS_DESCRIPTION)
    jwks_url: str | None = Field(default=None, max_length=2048, description=JWKS_URL_DESCRIPTION)


class PartnerKeysRequest(BaseModel):
    """Replace a partner app's public keys; both null: secret-only authentication."""

    model_config = ConfigDict(extra="forbid")

    jwks: dict[str, Any] | None = Field(default=None, description=JWKS_DESCRIPTION)
    jwks_url: str | None = Field(default=None, max_length=2048, description=JWKS_URL_DESCRIPTION)


class PartnerApp(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    client_id: str
    name: str
    scopes: list[str]
    jwks: dict[str, Any] | None = None
    jwks_url: str | None = None


class PartnerAppCredentials(PartnerApp):
    client_secret: str = Field(description="shown only now; stored hashed")


class ClientCredentialsToken(BaseModel):
    """RFC 6749 section 5.1."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105  (a scheme name, not a secret)
    expires_in: int
    scope: str


class ClientCredentialsGrant(BaseModel):
    """The token endpoint's form (RFC 6749 section 4.4.2) when the client authenticates with
    its secret: HTTP Basic (preferred), or ``client_id`` and ``client_secret`` in the form."""

    # Each parameter at most once, and no others (the endpoint refuses a repeated one).
    model_config = ConfigDict(extra="forbid")
    grant_type: Literal["client_credentials"]
    scope: str | None = Field(default=None, description=SCOPE_DESCRIPTION)
    client_id: str | None = None
    client_secret: str | None = None


class ClientAssertionGrant(BaseModel):
    """The token endpoint's form for a SMART backend service: the client authenticates with a
    signed assertion (RFC 7523, ``private_key_jwt``) and nothing else."""

    model_config = ConfigDict(extra="forbid")
    grant_type: Literal["client_credentials"]
    scope: str | None = Field(default=None, description=SCOPE_DESCRIPTION)
    client_id: str | None = Field(default=None, description="if given, the assertion's iss")
    client_assertion_type: Literal["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    client_assertion: str = Field(
        min_length=1,
        description="a JWT signed with RS384 or ES384 by a key the app registered (`kid` "
        "header): `iss` = `sub` = the client id, `aud` = this endpoint's URL, `exp` at most "
        "5 minutes away, a `jti` used only once",
    )


class SmartConfiguration(BaseModel):
    """SMART App Launch 2.2 discovery (``/.well-known/smart-configuration``), as far as
    backend services go: Rapport offers no user-facing launch."""

    jwks_uri: str
    token_endpoint: str
    grant_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    token_endpoint_auth_signing_alg_values_supported: list[str]
    scopes_supported: list[str]
    capabilities: list[str]


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
