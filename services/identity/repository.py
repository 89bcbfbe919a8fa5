"""All of identity's SQL."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import case, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.errors import EmailAlreadyRegistered
from services.identity.models import (
    Invitation,
    LoginFailure,
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


async def revoke_partner_grant(
    session: AsyncSession, client_id: str, clinician_id: uuid.UUID
) -> bool:
    """Delete the clinician's grant to the partner; whether there was one."""
    found = await session.get(PartnerGrant, (client_id, clinician_id))
    if found is None:
        return False
    await session.delete(found)
    await session.flush()
    return True


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


async def login_locked_until(session: AsyncSession, email: str) -> datetime | None:
    """Until when logins to ``email`` are locked (may be in the past), or None."""
    result = await session.exec(
        select(LoginFailure.locked_until).where(LoginFailure.email == email)
    )
    return result.first()


async def record_login_failure(
    session: AsyncSession,
    email: str,
    *,
    now: datetime,
    counts_since: datetime,
    lock_after: int,
    locked_until: datetime,
) -> None:
    """Count one failure for ``email`` atomically (concurrent processes add up); at
    ``lock_after`` failures in a row, lock it until ``locked_until`` and start counting again.
    Failures before ``counts_since`` are forgotten, and rows that only hold such are pruned."""
    table = LoginFailure.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(email=email, failures=1, last_failure_at=now)
    await session.exec(
        statement.on_conflict_do_update(
            index_elements=[table.c.email],
            set_={
                "failures": case(
                    (table.c.last_failure_at < counts_since, 1), else_=table.c.failures + 1
                ),
                "last_failure_at": now,
            },
        )
    )
    await session.exec(
        update(table)
        .where(table.c.email == email, table.c.failures >= lock_after)
        .values(failures=0, locked_until=locked_until)
    )
    await session.exec(
        delete(table).where(
            table.c.last_failure_at < counts_since,
            or_(table.c.locked_until.is_(None), table.c.locked_until < now),
        )
    )


async def clear_login_failures(session: AsyncSession, email: str) -> None:
    """Forget the failures of ``email`` (after a correct login)."""
    table = LoginFailure.__table__  # type: ignore[attr-defined]
    await session.exec(delete(table).where(table.c.email == email))
