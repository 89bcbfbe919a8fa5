"""The invitations' SQL."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.models import Invitation


async def add_invitation(session: AsyncSession, invitation: Invitation) -> None:
    """Insert an invitation."""
    session.add(invitation)
    await session.flush()


async def invitation(session: AsyncSession, token_hash: str) -> Invitation | None:
    """The invitation with this digest, locked for update, or None."""
    result = await session.exec(
        select(Invitation).where(Invitation.token_hash == token_hash).with_for_update()
    )
    return result.first()
