"""Sign-in's SQL: recovery codes, password resets and the failed-login counts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import case, delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.models import LoginFailure, PasswordReset, RecoveryCode


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
