"""Accounts' HTTP API: sign-up, the caller's own account, and an admin's account changes."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from services.identity.accounts import schemas
from services.identity.accounts.service import Accounts
from services.identity.errors import (
    EmailAlreadyRegistered,
    InvitationRequired,
    RoleNotSelfService,
    UserNotFound,
)
from shared.dependencies import SessionDep
from shared.openapi import error_responses
from shared.tokens import CurrentPrincipal

router = APIRouter()


def _accounts(request: Request) -> Accounts:
    service: Accounts = request.app.state.identity.accounts
    return service


AccountsDep = Annotated[Accounts, Depends(_accounts)]


@router.post(
    "/v1/auth/register",
    status_code=201,
    tags=["auth"],
    responses=error_responses(RoleNotSelfService, InvitationRequired, EmailAlreadyRegistered),
)
async def register(
    body: schemas.RegisterRequest, session: SessionDep, accounts: AccountsDep
) -> schemas.User:
    """Create a client or clinician account."""
    user = await accounts.register(
        session,
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        role=body.role,
        time_zone=body.time_zone,
        invitation=body.invitation,
    )
    return schemas.User.model_validate(user)


@router.post(
    "/v1/users/{user_id}/deactivate", tags=["users"], responses=error_responses(UserNotFound)
)
async def deactivate(
    user_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep, accounts: AccountsDep
) -> schemas.User:
    """Disable an account and revoke every token it holds (admin)."""
    user = await accounts.deactivate(session, principal, user_id)
    return schemas.User.model_validate(user)


@router.put("/v1/users/{user_id}/role", tags=["users"])
async def change_role(
    user_id: uuid.UUID,
    body: schemas.RoleChange,
    principal: CurrentPrincipal,
    session: SessionDep,
    accounts: AccountsDep,
) -> schemas.User:
    """Change an account's role; tokens with the old role are revoked (admin)."""
    user = await accounts.change_role(session, principal, user_id, body.role)
    return schemas.User.model_validate(user)


@router.get("/v1/users/me", tags=["users"])
async def me(
    principal: CurrentPrincipal, session: SessionDep, accounts: AccountsDep
) -> schemas.User:
    """The caller's own account."""
    user = await accounts.active_user(session, principal)
    return schemas.User.model_validate(user)


@router.patch("/v1/users/me", tags=["users"])
async def update_me(
    body: schemas.ProfileChange,
    principal: CurrentPrincipal,
    session: SessionDep,
    accounts: AccountsDep,
) -> schemas.User:
    """Change the caller's display name or time zone."""
    user = await accounts.update_profile(
        session, principal, display_name=body.display_name, time_zone=body.time_zone
    )
    return schemas.User.model_validate(user)


@router.post("/v1/users/{user_id}/approve", tags=["users"])
async def approve(
    user_id: uuid.UUID, principal: CurrentPrincipal, session: SessionDep, accounts: AccountsDep
) -> schemas.User:
    """Approve a self-registered clinician (admin)."""
    return schemas.User.model_validate(
        await accounts.approve_clinician(session, principal, user_id)
    )
