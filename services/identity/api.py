"""Identity's HTTP API: parse, call the service, return a schema.

Every handler runs inside one unit of work (``SessionDep``) that commits before the response
is sent, so a 201 means the account and its outbox row are stored.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Annotated, Literal
from urllib.parse import parse_qs, unquote

from fastapi import APIRouter, Depends, Query, Request, Response

from services.identity import directory, schemas
from services.identity.errors import (
    AccountPendingApproval,
    EmailAlreadyRegistered,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidRefreshToken,
    InvitationRequired,
    LoginThrottled,
    MfaAlreadyEnabled,
    MfaNotEnrolled,
    MfaRequired,
    OAuthError,
    RoleNotSelfService,
    UserNotFound,
)
from services.identity.service import (
    IdentityService,
    LoggedIn,
    PartnerCredentials,
    RefreshRefused,
)
from shared.db import Database
from shared.dependencies import SessionDep
from shared.openapi import error_responses
from shared.tokens import CurrentPrincipal

router = APIRouter()


def _identity(request: Request) -> IdentityService:
    service: IdentityService = request.app.state.identity
    return service


IdentityDep = Annotated[IdentityService, Depends(_identity)]


@router.post(
    "/v1/auth/register",
    status_code=201,
    tags=["auth"],
    responses=error_responses(RoleNotSelfService, InvitationRequired, EmailAlreadyRegistered),
)
async def register(
    body: schemas.RegisterRequest, session: SessionDep, identity: IdentityDep
) -> schemas.User:
    """Create a client or clinician account."""
    user = await identity.register(
        session,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        role=body.role,
        time_zone=body.time_zone,
        invitation=body.invitation,
    )
    return schemas.User.model_validate(user)


def _client_address(request: Request) -> str:
    # As the trusted-proxy policy settled it (shared/forwarded.py), never the raw header.
    return request.client.host if request.client else ""


def _tokens(logged_in: LoggedIn) -> schemas.LoginResponse:
    return schemas.LoginResponse(
        access_token=logged_in.access.token,
        expires_in=logged_in.access.expires_in,
        refresh_token=logged_in.refresh.token,
        refresh_expires_in=logged_in.refresh.expires_in,
        user=schemas.User.model_validate(logged_in.user),
    )


@router.post(
    "/v1/auth/login",
    tags=["auth"],
    responses=error_responses(
        InvalidCredentials, MfaRequired, InvalidMfaCode, AccountPendingApproval, LoginThrottled
    ),
)
async def login(
    body: schemas.LoginRequest, request: Request, session: SessionDep, identity: IdentityDep
) -> schemas.LoginResponse:
    """Exchange email and password for an access token and a refresh token."""
    logged_in = await identity.log_in(
        session,
        email=body.email,
        password=body.password,
        client_address=_client_address(request),
        otp=body.otp,
        recovery_code=body.recovery_code,
    )
    return _tokens(logged_in)


@router.post("/v1/auth/refresh", tags=["auth"], responses=error_responses(InvalidRefreshToken))
async def refresh(
    body: schemas.RefreshRequest, request: Request, identity: IdentityDep
) -> schemas.LoginResponse:
    """Exchange a refresh token for new tokens; the presented one is used up."""
    database: Database = request.app.state.database
    # Its own unit of work: a reused token revokes its family, and that must be committed
    # even though the answer is an error.
    async with database.unit_of_work() as session:
        outcome = await identity.refresh(session, body.refresh_token)
        if isinstance(outcome, LoggedIn):
            response = _tokens(outcome)
    if isinstance(outcome, RefreshRefused):
        raise InvalidRefreshToken()
    return response


@router.post("/v1/auth/mfa/totp", status_code=201, tags=["auth"])
async def enroll_totp(
    principal: CurrentPrincipal, session: SessionDep, identity: IdentityDep
) -> schemas.TotpEnrollment:
    """Start TOTP enrollment; confirm with a code to put it in force."""
    secret, uri = await identity.enroll_totp(session, principal)
    return schemas.TotpEnrollment(secret=secret, otpauth_uri=uri)


@router.post(
    "/v1/auth/mfa/totp/confirm",
    tags=["auth"],
    responses=error_responses(MfaAlreadyEnabled, MfaNotEnrolled),
)
async def confirm_totp(
    body: schemas.TotpConfirmation,
    principal: CurrentPrincipal,
    session: SessionDep,
    identity: IdentityDep,
) -> schemas.RecoveryCodes:
    """Confirm TOTP with a current code; returns one-time recovery codes."""
    codes = await identity.confirm_totp(session, principal, body.code)
    return schemas.RecoveryCodes(recovery_codes=codes)


@router.post("/v1/auth/password", status_code=204, tags=["auth"])
async def change_password(
    body: schemas.PasswordChange,
    principal: CurrentPrincipal,
    session: SessionDep,
    identity: IdentityDep,
) -> Response:
    """Change the caller's password (ends every refresh token family of theirs)."""
    await identity.change_password(
        session, principal, current=body.current_password, new=body.new_password
    )
    return Response(status_code=204)


# No body: the answer must not tell whether the account exists.
@router.post("/v1/auth/password-reset", status_code=202, tags=["auth"], response_class=Response)
async def request_password_reset(
    body: schemas.PasswordResetRequest, session: SessionDep, identity: IdentityDep
) -> Response:
    """Send a reset link if the account exists; the answer is the same either way."""
    await identity.request_password_reset(session, body.email)
    return Response(status_code=202)


@router.post("/v1/auth/password-reset/confirm", status_code=204, tags=["auth"])
async def reset_password(
    body: schemas.PasswordResetConfirmation, session: SessionDep, identity: IdentityDep
) -> Response:
    """Set a new password with a reset token."""
    await identity.reset_password(session, token=body.token, new=body.new_password)
    return Response(status_code=204)


@router.post("/v1/auth/logout", status_code=204, tags=["auth"])
async def logout(
    body: schemas.RefreshRequest, session: SessionDep, identity: IdentityDep
) -> Response:
    """Revoke the refresh token family of this login."""
    await identity.log_out(session, body.refresh_token)
    return Response(status_code=204)


@router.post(
    "/v1/users/{user_id}/deactivate", tags=["users"], responses=error_responses(UserNotFound)
)
async def deactivate(
    user_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep, identity: IdentityDep
) -> schemas.User:
    """Disable an account and revoke every token it holds (admin)."""
    user = await identity.deactivate(session, principal, user_id)
    return schemas.User.model_validate(user)


@router.put("/v1/users/{user_id}/role", tags=["users"])
async def change_role(
    user_id: uuid.UUID,
    body: schemas.RoleChange,
    principal: CurrentPrincipal,
    session: SessionDep,
    identity: IdentityDep,
) -> schemas.User:
    """Change an account's role; tokens with the old role are revoked (admin)."""
    user = await identity.change_role(session, principal, user_id, body.role)
    return schemas.User.model_validate(user)


@router.get("/v1/users/me", tags=["users"])
async def me(
    principal: CurrentPrincipal, session: SessionDep, identity: IdentityDep
) -> schemas.User:
    """The caller's own account."""
    user = await identity.active_user(session, principal)
    return schemas.User.model_validate(user)


@router.patch("/v1/users/me", tags=["users"])
async def update_me(
    body: schemas.ProfileChange,
    principal: CurrentPrincipal,
    session: SessionDep,
    identity: IdentityDep,
) -> schemas.User:
    """Change the caller's display name or time zone."""
    user = await identity.update_profile(
        session, principal, display_name=body.display_name, time_zone=body.time_zone
    )
    return schemas.User.model_validate(user)


def _entry(found: directory.DirectoryEntry) -> schemas.DirectoryEntry:
    user = found.user
    return schemas.DirectoryEntry.model_validate(
        {
            "id": user.id,
            "display_name": user.display_name,
            "time_zone": user.time_zone,
            "role": user.role,
            "email": user.email if found.email_visible else None,
        }
    )


@router.get("/v1/users", tags=["users"])
async def list_users(
    principal: CurrentPrincipal,
    session: SessionDep,
    role: Annotated[Literal["client", "clinician", "admin"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = directory.DEFAULT_LIST_LIMIT,
) -> list[schemas.DirectoryEntry]:
    """A clinician's clients (who joined by their invitations); for an admin, any role."""
    found = await directory.listing(session, principal, role=role, limit=limit)
    return [_entry(e) for e in found]


@router.get("/v1/users/{user_id}", tags=["users"])
async def get_user(
    user_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep
) -> schemas.DirectoryEntry:
    """One account: oneself, anyone for an admin, an invited client for their clinician."""
    return _entry(await directory.entry(session, principal, user_id))


@router.get("/v1/invitations", tags=["users"])
async def list_invitations(
    principal: CurrentPrincipal, session: SessionDep
) -> list[schemas.InvitationView]:
    """The calling clinician's invitations, newest first: pending, accepted or expired."""
    return [
        schemas.InvitationView(
            email=state.invitation.email,
            status=state.status,
            created_at=state.invitation.created_at,
            expires_at=state.invitation.expires_at,
            accepted_at=state.invitation.accepted_at,
            user_id=state.user_id,
        )
        for state in await directory.invitations(session, principal)
    ]


@router.post("/v1/invitations", status_code=201, tags=["users"])
async def invite(
    body: schemas.InvitationRequest,
    principal: CurrentPrincipal,
    session: SessionDep,
    identity: IdentityDep,
) -> schemas.InvitationIssued:
    """A clinician invites a client (single use, expires)."""
    issued = await identity.invite_client(session, principal, body.email)
    return schemas.InvitationIssued(
        invitation=issued.token, email=issued.email, expires_at=issued.expires_at
    )


@router.post("/v1/users/{user_id}/approve", tags=["users"])
async def approve(
    user_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep, identity: IdentityDep
) -> schemas.User:
    """Approve a self-registered clinician (admin)."""
    return schemas.User.model_validate(
        await identity.approve_clinician(session, principal, user_id)
    )


@router.post("/v1/signaling-tokens", tags=["tokens"])
async def signaling_token(
    body: schemas.SignalingTokenRequest,
    principal: CurrentPrincipal,
    session: SessionDep,
    identity: IdentityDep,
) -> schemas.SignalingTokenResponse:
    """A five-minute token to join the signaling room of one session."""
    issued = await identity.issue_signaling_token(session, principal, body.session_id)
    return schemas.SignalingTokenResponse(token=issued.token, expires_in=issued.expires_in)


@router.get("/.well-known/jwks.json", tags=["keys"])
async def jwks(session: SessionDep, identity: IdentityDep, response: Response) -> schemas.Jwks:
    """The public keys that verify Rapport tokens."""
    # Verifiers refetch on an unknown kid anyway; a short cache keeps rotations visible.
    response.headers["Cache-Control"] = "public, max-age=60"
    keys = await identity.published_keys(session)
    return schemas.Jwks.model_validate({"keys": keys})


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
    identity: IdentityDep,
) -> schemas.PartnerAppCredentials:
    """Register a partner app (admin); the client secret is shown only in this response."""
    issued = await identity.register_partner(session, principal, name=body.name, scopes=body.scopes)
    return _credentials(issued)


@router.post("/v1/partner-apps/{client_id}/secret", tags=["partners"])
async def rotate_partner_secret(
    client_id: str, principal: CurrentPrincipal, session: SessionDep, identity: IdentityDep
) -> schemas.PartnerAppCredentials:
    """Replace a partner app's secret (admin); the old one stops working."""
    return _credentials(await identity.rotate_partner_secret(session, principal, client_id))


@router.put("/v1/partner-apps/{client_id}/grants/me", status_code=204, tags=["partners"])
async def grant_partner(
    client_id: str, principal: CurrentPrincipal, session: SessionDep, identity: IdentityDep
) -> Response:
    """A clinician lets this partner app see and act on their own practice's data."""
    await identity.grant_partner(session, principal, client_id)
    return Response(status_code=204)


@router.delete("/v1/partner-apps/{client_id}/grants/me", status_code=204, tags=["partners"])
async def revoke_partner(
    client_id: str, principal: CurrentPrincipal, session: SessionDep, identity: IdentityDep
) -> Response:
    """A clinician withdraws this partner app's access to their practice's data."""
    await identity.revoke_partner_grant(session, principal, client_id)
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
    request: Request, session: SessionDep, identity: IdentityDep, response: Response
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
    issued, scopes = await identity.client_credentials(
        session, client_id=client_id, client_secret=secret, scope=form.get("scope")
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return schemas.ClientCredentialsToken(
        access_token=issued.token, expires_in=issued.expires_in, scope=" ".join(scopes)
    )
