"""The partners' SQL: partner apps and the clinicians' grants to them."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.models import ClientAssertionUse, PartnerApp, PartnerGrant


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


async def use_assertion_id(
    session: AsyncSession, client_id: str, jti: str, expires_at: datetime, now: datetime
) -> bool:
    """Record the client's assertion id; False when it was recorded before (a replay).

    One INSERT ... ON CONFLICT DO NOTHING on the (client, jti) key: of two concurrent uses
    exactly one inserts, on SQLite (writers take turns) and on PostgreSQL (the second waits
    for the first's commit, then finds the row). Ids of expired assertions are pruned, since an
    expired assertion is refused anyway.
    """
    table = ClientAssertionUse.__table__  # type: ignore[attr-defined]
    await session.exec(delete(table).where(table.c.expires_at < now))
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    result = await session.exec(
        insert(table)
        .values(client_id=client_id, jti=jti, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=[table.c.client_id, table.c.jti])
    )
    return bool(result.rowcount == 1)
