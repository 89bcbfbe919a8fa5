"""Sign-in's HTTP API: login, refresh, logout, MFA, passwords and signaling tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from services.identity.accounts import UserView
from services.identity.errors import (
    AccountPendingApproval,
    InvalidCredentials,
    InvalidMfaCode,
    InvalidRefreshToken,
    LoginThrottled,
    MfaAlreadyEnabled,
    MfaNotEnrolled,
    MfaRequired,
    SignInExpired,
)
from services.identity.sign_in import schemas
from services.identity.sign_in.service import LoggedIn, SignIn
from services.identity.tokens import RefreshRefused
from shared.db import Database
from shared.dependencies import SessionDep
from shared.openapi import error_responses
from shared.tokens import CurrentPrincipal

router = APIRouter()


def _sign_in(request: Request) -> SignIn:
    service: SignIn = request.app.state.identity.sign_in
    return service


SignInDep = Annotated[SignIn, Depends(_sign_in)]


def _client_address(request: Request) -> str:
    # As the trusted-proxy policy settled it (shared/forwarded.py), never the raw header.
    return request.client.host if request.client else ""


def _tokens(logged_in: LoggedIn) -> schemas.LoginResponse:
    return schemas.LoginResponse(
        access_token=logged_in.access.token,
        expires_in=logged_in.access.expires_in,
        refresh_token=logged_in.refresh.token,
        refresh_expires_in=logged_in.refresh.expires_in,
        user=UserView.model_validate(logged_in.user),
    )


@router.post(
    "/v1/auth/login",
    tags=["auth"],
    responses=error_responses(
        InvalidCredentials, MfaRequired, InvalidMfaCode, AccountPendingApproval, LoginThrottled
    ),
)
async def login(
    body: schemas.LoginRequest, request: Request, session: SessionDep, sign_in: SignInDep
) -> schemas.LoginResponse:
    """Exchange email and password for an access token and a refresh token."""
    logged_in = await sign_in.log_in(
        session,
        email=body.email,
        password=body.password,
        client_address=_client_address(request),
        otp=body.otp,
        recovery_code=body.recovery_code,
    )
    return _tokens(logged_in)


@router.post(
    "/v1/auth/refresh", tags=["auth"], responses=error_responses(InvalidRefreshToken, SignInExpired)
)
async def refresh(
    body: schemas.RefreshRequest, request: Request, sign_in: SignInDep
) -> schemas.LoginResponse:
    """Exchange a refresh token for new tokens; the presented one is used up."""
    database: Database = request.app.state.database
    # Its own unit of work: a reused token revokes its family, and that must be committed
    # even though the answer is an error.
    async with database.unit_of_work() as session:
        outcome = await sign_in.refresh(session, body.refresh_token)
        if isinstance(outcome, LoggedIn):
            response = _tokens(outcome)
    if isinstance(outcome, RefreshRefused):
        if outcome.ended_because in ("idle_timeout", "absolute_lifetime"):
            raise SignInExpired(outcome.ended_because)
        raise InvalidRefreshToken()
    return response


@router.post("/v1/auth/mfa/totp", status_code=201, tags=["auth"])
async def enroll_totp(
    principal: CurrentPrincipal, session: SessionDep, sign_in: SignInDep
) -> schemas.TotpEnrollment:
    """Start TOTP enrollment; confirm with a code to put it in force."""
    secret, uri = await sign_in.enroll_totp(session, principal)
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
    sign_in: SignInDep,
) -> schemas.RecoveryCodes:
    """Confirm TOTP with a current code; returns one-time recovery codes."""
    codes = await sign_in.confirm_totp(session, principal, body.code)
    return schemas.RecoveryCodes(recovery_codes=codes)


@router.post("/v1/auth/password", status_code=204, tags=["auth"])
async def change_password(
    body: schemas.PasswordChange,
    principal: CurrentPrincipal,
    session: SessionDep,
    sign_in: SignInDep,
) -> Response:
    """Change the caller's password (ends every refresh token family of theirs)."""
    await sign_in.change_password(
        session, principal, current=body.current_password, new=body.new_password
    )
    return Response(status_code=204)


# No body: the answer must not tell whether the account exists.
@router.post("/v1/auth/password-reset", status_code=202, tags=["auth"], response_class=Response)
async def request_password_reset(
    body: schemas.PasswordResetRequest, session: SessionDep, sign_in: SignInDep
) -> Response:
    """Send a reset link if the account exists; the answer is the same either way."""
    await sign_in.request_password_reset(session, body.email)
    return Response(status_code=202)


@router.post("/v1/auth/password-reset/confirm", status_code=204, tags=["auth"])
async def reset_password(
    body: schemas.PasswordResetConfirmation, session: SessionDep, sign_in: SignInDep
) -> Response:
    """Set a new password with a reset token."""
    await sign_in.reset_password(session, token=body.token, new=body.new_password)
    return Response(status_code=204)


@router.post("/v1/auth/logout", status_code=204, tags=["auth"])
async def logout(body: schemas.RefreshRequest, session: SessionDep, sign_in: SignInDep) -> Response:
    """Revoke the refresh token family of this login."""
    await sign_in.log_out(session, body.refresh_token)
    return Response(status_code=204)


@router.post("/v1/signaling-tokens", tags=["tokens"])
async def signaling_token(
    body: schemas.SignalingTokenRequest,
    principal: CurrentPrincipal,
    session: SessionDep,
    sign_in: SignInDep,
) -> schemas.SignalingTokenResponse:
    """A five-minute token to join the signaling room of one session."""
    issued = await sign_in.issue_signaling_token(session, principal, body.session_id)
    return schemas.SignalingTokenResponse(token=issued.token, expires_in=issued.expires_in)
