"""The tokens' SQL: signing keys, refresh token families and their tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.models import RefreshFamily, RefreshToken, SigningKey


async def newest_active_key(session: AsyncSession) -> SigningKey | None:
    """The key that signs now: the newest one not retired."""
    result = await session.exec(
        select(SigningKey)
        .where(col(SigningKey.retired_at).is_(None))
        .order_by(col(SigningKey.created_at).desc(), col(SigningKey.kid))
        .limit(1)
    )
    return result.first()


async def verifying_keys(session: AsyncSession, retired_after: datetime) -> list[SigningKey]:
    """Keys that still verify: active ones, and those retired after ``retired_after``."""
    result = await session.exec(
        select(SigningKey)
        .where(
            or_(
                col(SigningKey.retired_at).is_(None),
                col(SigningKey.retired_at) > retired_after,
            )
        )
        .order_by(col(SigningKey.created_at).desc(), col(SigningKey.kid))
    )
    return list(result.all())


async def add_signing_key(session: AsyncSession, key: SigningKey) -> SigningKey:
    """Insert a new signing key."""
    session.add(key)
    await session.flush()
    return key


async def retire_active_keys(session: AsyncSession, at: datetime) -> list[str]:
    """Mark every active key retired at ``at``; return their kids."""
    result = await session.exec(select(SigningKey).where(col(SigningKey.retired_at).is_(None)))
    keys = list(result.all())
    for key in keys:
        key.retired_at = at
        session.add(key)
    return [key.kid for key in keys]


async def add_refresh_family(session: AsyncSession, family: RefreshFamily) -> RefreshFamily:
    """Insert a new refresh token family."""
    session.add(family)
    await session.flush()
    return family


async def add_refresh_token(session: AsyncSession, token: RefreshToken) -> RefreshToken:
    """Insert a new (hashed) refresh token."""
    session.add(token)
    await session.flush()
    return token


async def refresh_token_by_hash(
    session: AsyncSession, token_hash: str
) -> tuple[RefreshToken, RefreshFamily] | None:
    """The refresh token with this hash and its family, locked for update, or None."""
    result = await session.exec(
        select(RefreshToken, RefreshFamily)
        .join(RefreshFamily, col(RefreshFamily.id) == col(RefreshToken.family_id))
        .where(RefreshToken.token_hash == token_hash)
        .with_for_update()
    )
    row = result.first()
    return None if row is None else (row[0], row[1])


async def refresh_family(session: AsyncSession, family_id: uuid.UUID) -> RefreshFamily | None:
    """The refresh token family (one sign-in) with this id, or None."""
    return await session.get(RefreshFamily, family_id)


async def active_families_of(session: AsyncSession, user_id: uuid.UUID) -> list[RefreshFamily]:
    """The user's refresh token families that are not revoked."""
    result = await session.exec(
        select(RefreshFamily).where(
            RefreshFamily.user_id == user_id, col(RefreshFamily.revoked_at).is_(None)
        )
    )
    return list(result.all())
