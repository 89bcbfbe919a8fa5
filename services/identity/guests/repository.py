"""The guest links' SQL."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.models import GuestLink


async def add_guest_link(session: AsyncSession, link: GuestLink) -> None:
    """Insert a guest link."""
    session.add(link)
    await session.flush()


async def guest_link_by_hash(session: AsyncSession, token_hash: str) -> GuestLink | None:
    """The link with this digest, locked for update (two redemptions race for it), or None."""
    result = await session.exec(
        select(GuestLink).where(GuestLink.token_hash == token_hash).with_for_update()
    )
    return result.first()


async def mark_redeemed(session: AsyncSession, guest_id: uuid.UUID, now: datetime) -> bool:
    """Use the link up if nobody has and it is not revoked; False when another redemption won.

    The condition is in the UPDATE itself because the locking read above does not lock on
    SQLite (writers take turns only at their first write), so two redemptions can both read
    an unused link; of their two UPDATEs exactly one matches, on SQLite and on PostgreSQL.
    """
    result = await session.exec(
        update(GuestLink)
        .where(
            col(GuestLink.id) == guest_id,
            col(GuestLink.redeemed_at).is_(None),
            col(GuestLink.revoked_at).is_(None),
        )
        .values(redeemed_at=now)
    )
    return bool(result.rowcount == 1)


async def guest_link(session: AsyncSession, guest_id: uuid.UUID) -> GuestLink | None:
    """The link of guest ``guest_id``, locked for update, or None."""
    result = await session.exec(select(GuestLink).where(GuestLink.id == guest_id).with_for_update())
    return result.first()


async def guest_links_of(
    session: AsyncSession, clinician_id: uuid.UUID, session_id: uuid.UUID
) -> Sequence[GuestLink]:
    """The clinician's guest links for one session, oldest first."""
    result = await session.exec(
        select(GuestLink)
        .where(GuestLink.clinician_id == clinician_id, GuestLink.session_id == session_id)
        .order_by(col(GuestLink.created_at), col(GuestLink.id))
    )
    return result.all()
