"""Partner apps' HTTP API and the OAuth 2.0 token endpoint."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import parse_qs, unquote

from fastapi import APIRouter, Depends, Request, Response

from services.identity.errors import OAuthError
from services.identity.partners import schemas
from services.identity.partners.service import PartnerCredentials, Partners
from shared.dependencies import SessionDep
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
    issued = await partners.register_partner(session, principal, name=body.name, scopes=body.scopes)
    return _credentials(issued)


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
                    "schema": schemas.ClientCredentialsGrant.model_json_schema()
                }
            },
        }
    },
)
async def token(
    request: Request, session: SessionDep, partners: PartnersDep, response: Response
) -> schemas.ClientCredentialsToken:
    """OAuth 2.0 token endpoint, client-credentials grant (RFC 6749 section 4.4)."""
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
