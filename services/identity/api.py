"""Identity's HTTP API: each sub-domain's routes, and the directory's.

Every handler runs inside one unit of work (``SessionDep``) that commits before the response
is sent, so a 201 means the account and its outbox row are stored.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from services.identity import directory, schemas
from services.identity.accounts import api as accounts
from services.identity.guests import api as guests
from services.identity.invitations import api as invitations
from services.identity.partners import api as partners
from services.identity.sign_in import api as sign_in
from services.identity.tokens import api as tokens
from shared.dependencies import SessionDep
from shared.tokens import CurrentPrincipal

router = APIRouter()
for sub_domain in (sign_in, accounts, invitations, guests, tokens, partners):
    router.include_router(sub_domain.router)


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
