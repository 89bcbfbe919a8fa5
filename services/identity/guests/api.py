"""Guest links' HTTP API: the clinician's side (issue, list, revoke) and the guest's (redeem)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.identity.accounts import Accounts
from services.identity.errors import (
    GuestLinkExpired,
    GuestLinkNotFound,
    GuestLinkRevoked,
    GuestLinkUsed,
)
from services.identity.guests import schemas
from services.identity.guests.service import Guests, status_of
from services.identity.models import GuestLink
from shared.dependencies import SessionDep
from shared.openapi import error_responses
from shared.tokens import CurrentPrincipal

router = APIRouter(tags=["guests"])


def _guests(request: Request) -> Guests:
    service: Guests = request.app.state.identity.guests
    return service


def _accounts(request: Request) -> Accounts:
    service: Accounts = request.app.state.identity.accounts
    return service


GuestsDep = Annotated[Guests, Depends(_guests)]
AccountsDep = Annotated[Accounts, Depends(_accounts)]


def _view(link: GuestLink) -> dict[str, object]:
    return {
        "guest_id": link.id,
        "session_id": link.session_id,
        "relationship": link.relationship,
        "status": status_of(link),
        "created_at": link.created_at,
        "expires_at": link.expires_at,
        "redeemed_at": link.redeemed_at,
        "revoked_at": link.revoked_at,
    }


@router.post("/v1/guest-links", status_code=201)
async def invite_guest(
    body: schemas.GuestLinkRequest,
    principal: CurrentPrincipal,
    session: SessionDep,
    guests: GuestsDep,
    accounts: AccountsDep,
) -> schemas.GuestLinkIssued:
    """A clinician invites a guest without an account (an interpreter, a family member) to one
    of their sessions: a one-time link that expires."""
    principal.require_role("clinician")
    clinician = await accounts.active_user(session, principal)
    issued = await guests.invite(session, clinician, body.session_id, body.relationship)
    return schemas.GuestLinkIssued.model_validate(
        {**_view(issued.link), "link_token": issued.token}
    )


@router.get("/v1/guest-links")
async def list_guest_links(
    session_id: Annotated[uuid.UUID, Query()],
    principal: CurrentPrincipal,
    session: SessionDep,
    guests: GuestsDep,
    accounts: AccountsDep,
) -> list[schemas.GuestLinkView]:
    """The calling clinician's guest links for one session (without their tokens)."""
    principal.require_role("clinician")
    clinician = await accounts.active_user(session, principal)
    return [
        schemas.GuestLinkView.model_validate(_view(link))
        for link in await guests.links(session, clinician, session_id)
    ]


@router.delete("/v1/guest-links/{guest_id}")
async def revoke_guest(
    guest_id: uuid.UUID,
    principal: CurrentPrincipal,
    session: SessionDep,
    guests: GuestsDep,
    accounts: AccountsDep,
) -> schemas.GuestLinkView:
    """Revoke a guest: the link stops working and a guest already in the room leaves it."""
    principal.require_role("clinician")
    clinician = await accounts.active_user(session, principal)
    return schemas.GuestLinkView.model_validate(
        _view(await guests.revoke(session, clinician, guest_id))
    )


@router.post(
    "/v1/guest-tokens",
    responses=error_responses(GuestLinkNotFound, GuestLinkUsed, GuestLinkExpired, GuestLinkRevoked),
)
async def redeem_guest_link(
    body: schemas.GuestLinkRedemption, session: SessionDep, guests: GuestsDep
) -> schemas.GuestToken:
    """A guest exchanges their link for a guest token (once: the link is then used up)."""
    redeemed = await guests.redeem(session, body.link_token)
    return schemas.GuestToken(
        token=redeemed.token.token,
        expires_in=redeemed.token.expires_in,
        guest_id=redeemed.link.id,
        session_id=redeemed.link.session_id,
        relationship=redeemed.link.relationship,
    )
