"""Identity's HTTP API: parse, call the service, return a schema.

Every handler runs inside one unit of work (``SessionDep``) that commits before the response
is sent, so a 201 means the account and its outbox row are stored.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from services.identity import schemas
from services.identity.service import IdentityService
from shared.dependencies import SessionDep
from shared.tokens import CurrentPrincipal

router = APIRouter()


def _identity(request: Request) -> IdentityService:
    service: IdentityService = request.app.state.identity
    return service


IdentityDep = Annotated[IdentityService, Depends(_identity)]


@router.post("/v1/auth/register", status_code=201, tags=["auth"])
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
    )
    return schemas.User.model_validate(user)


@router.post("/v1/auth/login", tags=["auth"])
async def login(
    body: schemas.LoginRequest, session: SessionDep, identity: IdentityDep
) -> schemas.LoginResponse:
    """Exchange email and password for an access token."""
    logged_in = await identity.log_in(session, email=body.email, password=body.password)
    return schemas.LoginResponse(
        access_token=logged_in.access.token,
        expires_in=logged_in.access.expires_in,
        user=schemas.User.model_validate(logged_in.user),
    )


@router.get("/v1/users/me", tags=["users"])
async def me(
    principal: CurrentPrincipal, session: SessionDep, identity: IdentityDep
) -> schemas.User:
    """The caller's own account."""
    user = await identity.active_user(session, principal)
    return schemas.User.model_validate(user)


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
