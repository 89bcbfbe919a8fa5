"""Invitations' HTTP API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from services.identity.accounts import Accounts, normalize_email
from services.identity.invitations import schemas
from services.identity.invitations.service import Invitations
from shared.dependencies import SessionDep
from shared.tokens import CurrentPrincipal

router = APIRouter()


def _invitations(request: Request) -> Invitations:
    service: Invitations = request.app.state.identity.invitations
    return service


def _accounts(request: Request) -> Accounts:
    service: Accounts = request.app.state.identity.accounts
    return service


InvitationsDep = Annotated[Invitations, Depends(_invitations)]
AccountsDep = Annotated[Accounts, Depends(_accounts)]


@router.post("/v1/invitations", status_code=201, tags=["users"])
async def invite(
    body: schemas.InvitationRequest,
    principal: CurrentPrincipal,
    session: SessionDep,
    invitations: InvitationsDep,
    accounts: AccountsDep,
) -> schemas.InvitationIssued:
    """A clinician invites a client (single use, expires)."""
    principal.require_role("clinician")
    clinician = await accounts.active_user(session, principal)
    issued = await invitations.invite(session, clinician, normalize_email(body.email))
    return schemas.InvitationIssued(
        invitation=issued.token, email=issued.email, expires_at=issued.expires_at
    )
