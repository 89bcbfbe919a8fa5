"""A clinician's invitations: issuing one, checking one at sign-up, and accepting it.

Emails arrive normalized (accounts owns that rule). Nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity import repository as shared_reads
from services.identity.errors import InvitationRequired
from services.identity.invitations import repository
from services.identity.models import Invitation, User
from services.identity.secret_box import SecretBox, invitation_token_context
from services.identity.settings import EVENT_SOURCE
from services.identity.tokens import hash_opaque_token, new_opaque_token
from shared.db import utc_now
from shared.events.catalog import InvitationAccepted, InvitationIssued
from shared.events.outbox import add_event


@dataclass(frozen=True)
class IssuedInvitation:
    """An invitation token for the clinician to pass on (shown once, stored hashed)."""

    token: str
    email: str
    expires_at: datetime


class Invitations:
    """Invitations, built once in the composition root."""

    def __init__(self, *, box: SecretBox, ttl_seconds: int = 7 * 24 * 3600):
        self._box = box
        self._ttl = timedelta(seconds=ttl_seconds)

    async def invite(self, session: AsyncSession, clinician: User, email: str) -> IssuedInvitation:
        """An invitation from ``clinician`` to ``email``: one use, expires.

        The token is shown to the clinician once and kept sealed for the notifications service,
        which emails the link (``invitation.issued`` names the invitation, never the token).
        """
        token = new_opaque_token()
        invitation = await self._add(session, clinician, email, token)
        invitation.sealed_token = self._box.seal(
            token, context=invitation_token_context(invitation.id)
        )
        session.add(invitation)
        add_event(
            session,
            InvitationIssued(
                invitation_id=invitation.id,
                clinician_id=clinician.id,
                issued_at=invitation.created_at,
                expires_at=invitation.expires_at,
            ),
            source=EVENT_SOURCE,
        )
        return IssuedInvitation(
            token=token, email=invitation.email, expires_at=invitation.expires_at
        )

    async def valid(self, session: AsyncSession, token: str | None, email: str) -> Invitation:
        """The pending invitation ``token`` names for ``email``, or :class:`InvitationRequired`."""
        found = await repository.invitation(session, hash_opaque_token(token)) if token else None
        if (
            found is None
            or found.accepted_at is not None
            or found.expires_at <= utc_now()
            or found.email != email
        ):
            raise InvitationRequired()
        return found

    def accept(self, session: AsyncSession, invitation: Invitation, client: User) -> None:
        """Mark the invitation accepted by ``client`` and queue ``InvitationAccepted`` (records
        links the two from it), in the caller's unit of work."""
        invitation.accepted_at = utc_now()
        invitation.accepted_by = client.id
        invitation.sealed_token = None
        session.add(invitation)
        add_event(
            session,
            InvitationAccepted(
                invitation_id=invitation.id,
                clinician_id=invitation.clinician_id,
                client_id=client.id,
                accepted_at=invitation.accepted_at,
            ),
            source=EVENT_SOURCE,
        )

    async def link(self, session: AsyncSession, clinician: User, client: User) -> bool:
        """Link ``client`` to ``clinician`` through an accepted invitation unless one links
        them already; whether this call did."""
        if await shared_reads.invited_by(session, client.id, clinician.id):
            return False
        invitation = await self._add(session, clinician, client.email, new_opaque_token())
        self.accept(session, invitation, client)
        return True

    async def _add(
        self, session: AsyncSession, clinician: User, email: str, token: str
    ) -> Invitation:
        invitation = Invitation(
            token_hash=hash_opaque_token(token),
            clinician_id=clinician.id,
            email=email,
            expires_at=utc_now() + self._ttl,
        )
        await repository.add_invitation(session, invitation)
        return invitation
