"""Guest links: a clinician issues one for one session, a guest redeems it once for a guest
token, the clinician may revoke it (and with it the guest) at any time. Nothing here commits.

Identity does not know sessions: it vouches only that the link's clinician asked for it.
Signaling and records each accept ``session.guest_invited`` only from the session's own
clinician, so a link for someone else's session lets nobody in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.errors import (
    GuestLinkExpired,
    GuestLinkNotFound,
    GuestLinkRevoked,
    GuestLinkUsed,
)
from services.identity.guests import repository
from services.identity.models import GuestLink, User
from services.identity.settings import EVENT_SOURCE
from services.identity.tokens import IssuedToken, Tokens, hash_opaque_token, new_opaque_token
from shared.db import utc_now
from shared.events.catalog import GuestRelationship, SessionGuestInvited, SessionGuestRevoked
from shared.events.outbox import add_event


@dataclass(frozen=True)
class IssuedGuestLink:
    """A new link, with its token shown to the clinician once (stored hashed)."""

    link: GuestLink
    token: str


@dataclass(frozen=True)
class RedeemedGuestLink:
    """A used-up link and the guest token it was exchanged for."""

    link: GuestLink
    token: IssuedToken


def status_of(link: GuestLink) -> str:
    """pending, redeemed, expired or revoked (a revocation outranks the rest)."""
    if link.revoked_at is not None:
        return "revoked"
    if link.redeemed_at is not None:
        return "redeemed"
    if link.expires_at <= utc_now():
        return "expired"
    return "pending"


class Guests:
    """Guest links, built once in the composition root."""

    def __init__(self, *, tokens: Tokens) -> None:
        self._tokens = tokens
        self._ttl = timedelta(seconds=tokens.policy.guest_link_ttl_seconds)

    async def invite(
        self,
        session: AsyncSession,
        clinician: User,
        session_id: uuid.UUID,
        relationship: GuestRelationship,
    ) -> IssuedGuestLink:
        """A one-time link for a guest to join ``session_id``; ``session.guest_invited`` puts
        the guest on the session's roster."""
        token = new_opaque_token()
        now = utc_now()
        link = GuestLink(
            token_hash=hash_opaque_token(token),
            session_id=session_id,
            clinician_id=clinician.id,
            relationship=relationship,
            created_at=now,
            expires_at=now + self._ttl,
        )
        await repository.add_guest_link(session, link)
        add_event(
            session,
            SessionGuestInvited(
                guest_id=link.id,
                session_id=session_id,
                clinician_id=clinician.id,
                relationship=relationship,
                invited_at=now,
                expires_at=link.expires_at,
            ),
            source=EVENT_SOURCE,
        )
        return IssuedGuestLink(link=link, token=token)

    async def redeem(self, session: AsyncSession, token: str) -> RedeemedGuestLink:
        """Use up a link: the guest's token for its session. A link works once; a used,
        expired or revoked one raises (410), an unknown one :class:`GuestLinkNotFound`."""
        link = await repository.guest_link_by_hash(session, hash_opaque_token(token))
        if link is None:
            raise GuestLinkNotFound()
        if link.revoked_at is not None:
            raise GuestLinkRevoked()
        if link.redeemed_at is not None:
            raise GuestLinkUsed()
        now = utc_now()
        if link.expires_at <= now:
            raise GuestLinkExpired()
        if not await repository.mark_redeemed(session, link.id, now):
            raise GuestLinkUsed()
        await session.refresh(link)
        issued = await self._tokens.guest_token(
            session, guest_id=link.id, session_id=link.session_id
        )
        return RedeemedGuestLink(link=link, token=issued)

    async def links(
        self, session: AsyncSession, clinician: User, session_id: uuid.UUID
    ) -> list[GuestLink]:
        """The clinician's guest links for one session."""
        return list(await repository.guest_links_of(session, clinician.id, session_id))

    async def revoke(
        self, session: AsyncSession, clinician: User, guest_id: uuid.UUID
    ) -> GuestLink:
        """Withdraw a guest: their link stops working, and ``session.guest_revoked`` takes them
        off the roster, ends their tokens and takes them out of the room. Revoking twice is
        the same as once."""
        link = await repository.guest_link(session, guest_id)
        if link is None or link.clinician_id != clinician.id:
            raise GuestLinkNotFound()
        if link.revoked_at is None:
            link.revoked_at = utc_now()
            session.add(link)
            add_event(
                session,
                SessionGuestRevoked(
                    guest_id=link.id,
                    session_id=link.session_id,
                    clinician_id=clinician.id,
                    revoked_at=link.revoked_at,
                ),
                source=EVENT_SOURCE,
            )
        return link
