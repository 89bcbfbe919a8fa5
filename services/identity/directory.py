"""The directory: who may look up whom (the dashboard's names and time zones).

A person sees their own entry with their email; an admin sees everyone's, with emails; a
clinician sees the clients who accepted their invitations, and such a client sees that
clinician (no emails either way: the clinician has the address they invited, the client has
the invitation, and nothing more is needed to run a session). Nobody else sees anyone.
Use cases only, like ``service``: nothing here commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity import repository
from services.identity.errors import UserNotFound
from services.identity.models import DirectoryAuditEntry, Invitation, User
from shared.db import utc_now
from shared.errors import Forbidden
from shared.tokens import Principal

InvitationStatus = Literal["pending", "accepted", "expired"]
DEFAULT_LIST_LIMIT = 200


@dataclass(frozen=True)
class DirectoryEntry:
    """What the caller may see of one account: the email only for themselves and admins."""

    user: User
    email_visible: bool


@dataclass(frozen=True)
class InvitationState:
    """One of a clinician's invitations and where it stands."""

    invitation: Invitation
    status: InvitationStatus
    user_id: uuid.UUID | None


async def entry(session: AsyncSession, principal: Principal, user_id: uuid.UUID) -> DirectoryEntry:
    """One account, if the caller may see it.

    A clinician asking about anyone other than their invited clients gets the same 404 as for
    an id that does not exist, so the directory cannot be used to learn who has an account. A
    client asking about anyone but the clinicians whose invitations they accepted gets 403,
    whether the id exists or not.
    """
    caller = principal.user_id
    if principal.role == "client" and caller != user_id:
        return await _clinician_of_client(session, principal, user_id)
    if principal.role not in ("admin", "clinician") and caller != user_id:
        raise Forbidden("only admins and clinicians look up other people")
    user = await repository.user_by_id(session, user_id)
    if user is None:
        raise UserNotFound()
    if caller == user_id or principal.role == "admin":
        return _audited(session, principal, [DirectoryEntry(user, email_visible=True)])[0]
    if user.role == "client" and any(
        c.id == user_id for c in await repository.invited_clients(session, caller)
    ):
        return _audited(session, principal, [DirectoryEntry(user, email_visible=False)])[0]
    raise UserNotFound()


async def _clinician_of_client(
    session: AsyncSession, principal: Principal, clinician_id: uuid.UUID
) -> DirectoryEntry:
    """A client's own clinician (one whose invitation they accepted), without the email."""
    client_id = principal.user_id
    if await repository.invited_by(session, client_id, clinician_id):
        clinician = await repository.user_by_id(session, clinician_id)
        if clinician is not None and clinician.role == "clinician":
            return _audited(session, principal, [DirectoryEntry(clinician, email_visible=False)])[0]
    raise Forbidden("clients look up only themselves and their own clinicians")


async def listing(
    session: AsyncSession,
    principal: Principal,
    *,
    role: str | None,
    limit: int = DEFAULT_LIST_LIMIT,
) -> list[DirectoryEntry]:
    """A clinician's clients (those who accepted their invitations); an admin's any role."""
    if principal.role == "admin":
        users = await repository.users_with_role(session, role, limit)
        return _audited(session, principal, [DirectoryEntry(u, email_visible=True) for u in users])
    if principal.role == "clinician":
        if role not in (None, "client"):
            raise Forbidden("clinicians list their clients only (role=client)")
        clients = await repository.invited_clients(session, principal.user_id)
        found = [DirectoryEntry(c, email_visible=False) for c in clients[:limit]]
        return _audited(session, principal, found)
    raise Forbidden("requires role clinician or admin")


def _audited(
    session: AsyncSession, principal: Principal, found: list[DirectoryEntry]
) -> list[DirectoryEntry]:
    """Append a read of each account shown to the caller's unit of work; the app's sealer
    chains them once it commits (shared.audit_log)."""
    session.add_all(
        DirectoryAuditEntry(
            actor_id=principal.user_id,
            actor_role=(principal.role or "unknown")[:20],
            action="read",
            resource_type="user",
            resource_id=str(e.user.id),
        )
        for e in found
    )
    return found


def _status(invitation: Invitation, now: datetime) -> InvitationStatus:
    if invitation.accepted_at is not None:
        return "accepted"
    return "expired" if invitation.expires_at <= now else "pending"


async def invitations(session: AsyncSession, principal: Principal) -> list[InvitationState]:
    """The calling clinician's invitations, newest first, with their status."""
    principal.require_role("clinician")
    now = utc_now()
    return [
        InvitationState(invitation, _status(invitation, now), invitation.accepted_by)
        for invitation in await repository.invitations_of(session, principal.user_id)
    ]
