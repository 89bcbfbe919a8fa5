"""Reads of accounts and invitations that the directory and several sub-domains share."""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.models import Invitation, PasswordReset, User


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    """The user with this id, or None."""
    return await session.get(User, user_id)


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with this (already normalized) email, or None."""
    result = await session.exec(select(User).where(User.email == email))
    return result.first()


async def invited_clients(session: AsyncSession, clinician_id: uuid.UUID) -> list[User]:
    """Active clients who accepted one of the clinician's invitations, by name."""
    result = await session.exec(
        select(User)
        .join(Invitation, col(Invitation.accepted_by) == col(User.id))
        .where(
            Invitation.clinician_id == clinician_id,
            User.role == "client",
            col(User.is_active).is_(True),
        )
        .distinct()
        .order_by(col(User.display_name), col(User.id))
    )
    return list(result.all())


async def invited_by(session: AsyncSession, client_id: uuid.UUID, clinician_id: uuid.UUID) -> bool:
    """Whether the client accepted one of the clinician's invitations."""
    result = await session.exec(
        select(Invitation.token_hash)
        .where(Invitation.clinician_id == clinician_id, Invitation.accepted_by == client_id)
        .limit(1)
    )
    return result.first() is not None


async def users_with_role(session: AsyncSession, role: str | None, limit: int) -> list[User]:
    """Accounts (of one role, or all), by name."""
    query = select(User)
    if role is not None:
        query = query.where(User.role == role)
    result = await session.exec(query.order_by(col(User.display_name), col(User.id)).limit(limit))
    return list(result.all())


async def invitations_of(session: AsyncSession, clinician_id: uuid.UUID) -> list[Invitation]:
    """The clinician's invitations, newest first (``accepted_by``: who accepted one)."""
    result = await session.exec(
        select(Invitation)
        .where(Invitation.clinician_id == clinician_id)
        .order_by(col(Invitation.created_at).desc(), col(Invitation.token_hash))
    )
    return list(result.all())


async def password_reset_by_id(session: AsyncSession, reset_id: uuid.UUID) -> PasswordReset | None:
    """The reset request with this public id, or None."""
    result = await session.exec(select(PasswordReset).where(PasswordReset.id == reset_id))
    return result.first()


async def invitation_by_id(session: AsyncSession, invitation_id: uuid.UUID) -> Invitation | None:
    """The invitation with this public id, or None."""
    result = await session.exec(select(Invitation).where(Invitation.id == invitation_id))
    return result.first()
