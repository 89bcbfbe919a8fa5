"""The partners' SQL: partner apps and the clinicians' grants to them."""

from __future__ import annotations

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.identity.models import PartnerApp, PartnerGrant


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
