"""All of identity's SQL."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.errors import EmailAlreadyRegistered
from services.identity.models import (
    Invitation,
    PartnerApp,
    PartnerGrant,
    PasswordReset,
    RecoveryCode,
    RefreshFamily,
    RefreshToken,
    SigningKey,
    User,
)


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


async def active_families_of(session: AsyncSession, user_id: uuid.UUID) -> list[RefreshFamily]:
    """The user's refresh token families that are not revoked."""
    result = await session.exec(
        select(RefreshFamily).where(
            RefreshFamily.user_id == user_id, col(RefreshFamily.revoked_at).is_(None)
        )
    )
    return list(result.all())


async def replace_recovery_codes(
    session: AsyncSession, user_id: uuid.UUID, code_hashes: list[str]
) -> None:
    """Drop the user's recovery codes and store these instead."""
    old = await session.exec(select(RecoveryCode).where(RecoveryCode.user_id == user_id))
    for code in old.all():
        await session.delete(code)
    await session.flush()
    session.add_all(RecoveryCode(code_hash=h, user_id=user_id) for h in code_hashes)
    await session.flush()


async def unused_recovery_code(
    session: AsyncSession, user_id: uuid.UUID, code_hash: str
) -> RecoveryCode | None:
    """The user's recovery code with this digest if it has not been used, else None."""
    result = await session.exec(
        select(RecoveryCode)
        .where(
            RecoveryCode.code_hash == code_hash,
            RecoveryCode.user_id == user_id,
            col(RecoveryCode.used_at).is_(None),
        )
        .with_for_update()
    )
    return result.first()


async def add_partner_app(session: AsyncSession, app: PartnerApp) -> PartnerApp:
    """Insert a partner app."""
    session.add(app)
    await session.flush()
    return app


async def partner_app(session: AsyncSession, client_id: str) -> PartnerApp | None:
    """The partner app with this client id, or None."""
    return await session.get(PartnerApp, client_id)


async def grant_partner(session: AsyncSession, client_id: str, clinician_id: uuid.UUID) -> None:
    """Record that the clinician granted the partner access (once; repeats change nothing)."""
    if await session.get(PartnerGrant, (client_id, clinician_id)) is None:
        session.add(PartnerGrant(client_id=client_id, clinician_id=clinician_id))
        await session.flush()


async def granting_clinicians(session: AsyncSession, client_id: str) -> list[uuid.UUID]:
    """Clinicians who granted this partner access, in a stable order."""
    result = await session.exec(
        select(PartnerGrant.clinician_id)
        .where(PartnerGrant.client_id == client_id)
        .order_by(col(PartnerGrant.clinician_id))
    )
    return list(result.all())


async def add_password_reset(session: AsyncSession, reset: PasswordReset) -> None:
    """Insert a password reset token."""
    session.add(reset)
    await session.flush()


async def password_reset(session: AsyncSession, token_hash: str) -> PasswordReset | None:
    """The reset token with this digest, locked for update, or None."""
    result = await session.exec(
        select(PasswordReset).where(PasswordReset.token_hash == token_hash).with_for_update()
    )
    return result.first()


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
