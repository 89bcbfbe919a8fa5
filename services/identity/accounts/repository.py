"""The accounts' SQL: storing one (lookups are shared: ``services.identity.repository``)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.errors import EmailAlreadyRegistered
from services.identity.models import User


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
