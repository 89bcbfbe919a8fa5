"""Partner apps' HTTP API and the OAuth 2.0 token endpoint."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import parse_qs, unquote

from fastapi import APIRouter, Depends, Request, Response

from services.identity.errors import OAuthError
from services.identity.partners import schemas
from services.identity.partners.assertions import ASSERTION_TYPE, SIGNING_ALGORITHMS
from services.identity.partners.service import PartnerCredentials, Partners
from shared.dependencies import SessionDep
from shared.scopes import SMART_RESOURCE_SCOPES
from shared.tokens import CurrentPrincipal

router = APIRouter()


def _partners(request: Request) -> Partners:
    service: Partners = request.app.state.identity.partners
    return service


PartnersDep = Annotated[Partners, Depends(_partners)]


def _credentials(issued: PartnerCredentials) -> schemas.PartnerAppCredentials:
    return schemas.PartnerAppCredentials(
        client_id=issued.app.client_id,
        name=issued.app.name,
        scopes=issued.app.scopes,
        jwks=issued.app.jwks,
        jwks_url=issued.app.jwks_url,
        client_secret=issued.client_secret,
    )


@router.post("/v1/partner-apps", status_code=201, tags=["partners"])
async def register_partner(
    body: schemas.PartnerAppRequest,
    principal: CurrentPrincipal,
    session: SessionDep,
    partners: PartnersDep,
) -> schemas.PartnerAppCredentials:
    """Register a partner app (admin); the client secret is shown only in this response."""
    issued = await partners.register_partner(
        session,
        principal,
        name=body.name,
        scopes=body.scopes,
        jwks=body.jwks,
        jwks_url=body.jwks_url,
    )
    return _credentials(issued)


@router.put("/v1/partner-apps/{client_id}/keys", tags=["partners"])
async def set_partner_keys(
    client_id: str,
    body: schemas.PartnerKeysRequest,
    principal: CurrentPrincipal,
    session: SessionDep,
    partners: PartnersDep,
) -> schemas.PartnerApp:
    """Replace a partner app's public keys (admin), for SMART backend services
    authentication: a JWKS, a JWKS URL, or neither. 422 `InvalidPartnerKeys` for keys that
    cannot verify RS384/ES384 assertions or a URL the SSRF guard refuses."""
    app = await partners.set_partner_keys(
        session, principal, client_id, jwks=body.jwks, jwks_url=body.jwks_url
    )
    return schemas.PartnerApp.model_validate(app)


@router.post("/v1/partner-apps/{client_id}/secret", tags=["partners"])
async def rotate_partner_secret(
    client_id: str, principal: CurrentPrincipal, session: SessionDep, partners: PartnersDep
) -> schemas.PartnerAppCredentials:
    """Replace a partner app's secret (admin); the old one stops working."""
    return _credentials(await partners.rotate_partner_secret(session, principal, client_id))


@router.put("/v1/partner-apps/{client_id}/grants/me", status_code=204, tags=["partners"])
async def grant_partner(
    client_id: str, principal: CurrentPrincipal, session: SessionDep, partners: PartnersDep
) -> Response:
    """A clinician lets this partner app see and act on their own practice's data."""
    await partners.grant_partner(session, principal, client_id)
    return Response(status_code=204)


@router.delete("/v1/partner-apps/{client_id}/grants/me", status_code=204, tags=["partners"])
async def revoke_partner(
    client_id: str, principal: CurrentPrincipal, session: SessionDep, partners: PartnersDep
) -> Response:
    """A clinician withdraws this partner app's access to their practice's data."""
    await partners.revoke_partner_grant(session, principal, client_id)
    return Response(status_code=204)


def _client_authentication(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """client_secret_basic (preferred, RFC 6749 2.3.1) or client_secret_post."""
    authorization = request.headers.get("authorization", "")
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise OAuthError(
                "invalid_client", "malformed basic credentials", status_code=401
            ) from exc
        client_id, _, secret = decoded.partition(":")
        return unquote(client_id), unquote(secret)
    if "client_id" in form and "client_secret" in form:
        return form["client_id"], form["client_secret"]
    raise OAuthError("invalid_client", "client authentication is required", status_code=401)


def _client_assertion(request: Request, form: dict[str, str]) -> str:
    """RFC 7523 section 2.2: the assertion, as the only client authentication."""
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise OAuthError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
    assertion = form.get("client_assertion")
    if not assertion:
        raise OAuthError("invalid_request", "client_assertion is required")
    if "client_secret" in form or request.headers.get("authorization"):
        raise OAuthError("invalid_request", "use one client authentication method, not two")
    return assertion


@router.get(
    "/.well-known/smart-configuration",
    tags=["partners"],
    response_model_exclude_none=True,
)
async def smart_configuration(
    partners: PartnersDep, response: Response
) -> schemas.SmartConfiguration:
    """SMART App Launch discovery: how a backend service gets a token here."""
    response.headers["Cache-Control"] = "public, max-age=3600"
    base = partners.token_url.removesuffix("/oauth/token")
    scopes = sorted(
        f"system/{resource_type}.rs"
        for resource_type, (read, _) in SMART_RESOURCE_SCOPES.items()
        if read is not None
    )
    return schemas.SmartConfiguration(
        jwks_uri=f"{base}/.well-known/jwks.json",
        token_endpoint=partners.token_url,
        grant_types_supported=["client_credentials"],
        token_endpoint_auth_methods_supported=[
            "private_key_jwt",
            "client_secret_basic",
            "client_secret_post",
        ],
        token_endpoint_auth_signing_alg_values_supported=list(SIGNING_ALGORITHMS),
        scopes_supported=[*scopes, "system/Appointment.cruds"],
        capabilities=["client-confidential-asymmetric", "permission-v1", "permission-v2"],
    )


@router.post(
    "/oauth/token",
    tags=["partners"],
    responses={
        400: {"model": schemas.OAuthErrorBody, "description": "RFC 6749 section 5.2"},
        401: {"model": schemas.OAuthErrorBody, "description": "`invalid_client`"},
    },
    # The form is parsed by hand (the RFC's rules, not FastAPI's); documented here.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "oneOf": [
                            schemas.ClientCredentialsGrant.model_json_schema(),
                            schemas.ClientAssertionGrant.model_json_schema(),
                        ]
                    }
                }
            },
        }
    },
)
async def token(
    request: Request, session: SessionDep, partners: PartnersDep, response: Response
) -> schemas.ClientCredentialsToken:
    """OAuth 2.0 token endpoint, client-credentials grant (RFC 6749 section 4.4); the client
    authenticates with its secret or, as a SMART backend service, with a signed assertion."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        raise OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded")
    parsed = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    if any(len(values) > 1 for values in parsed.values()):
        raise OAuthError("invalid_request", "a parameter was repeated")
    form = {name: values[0] for name, values in parsed.items()}
    grant_type = form.get("grant_type")
    if grant_type is None:
        raise OAuthError("invalid_request", "grant_type is required")
    if "client_assertion_type" in form or "client_assertion" in form:
        assertion = _client_assertion(request, form)
        if grant_type != "client_credentials":
            raise OAuthError("unsupported_grant_type", "only client_credentials is supported")
        issued, scopes = await partners.client_assertion(
            session, assertion=assertion, client_id=form.get("client_id"), scope=form.get("scope")
        )
    else:
        client_id, secret = _client_authentication(request, form)
        if grant_type != "client_credentials":
            raise OAuthError("unsupported_grant_type", "only client_credentials is supported")
        issued, scopes = await partners.client_credentials(
            session, client_id=client_id, client_secret=secret, scope=form.get("scope")
        )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return schemas.ClientCredentialsToken(
        access_token=issued.token, expires_in=issued.expires_in, scope=" ".join(scopes)
    )
