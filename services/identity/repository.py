"""All of identity's SQL."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.errors import EmailAlreadyRegistered
from services.identity.models import SigningKey, User


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user with this id, or None."""
    return await session.get(User, user_id)


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with this (already normalized) email, or None."""
    result = await session.exec(select(User).where(User.email == email))
    return result.first()


async def add_user(session: AsyncSession, user: User) -> User:
    """Insert ``user``; raise :class:`EmailAlreadyRegistered` if the email is taken.

    Flushing here turns a concurrent registration of the same email (which slips past the
    caller's lookup) into a clear 409 instead of a failed commit.
    """
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise EmailAlreadyRegistered() from exc
    return user


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
