"""The SQL of the partner grants records keeps: their revocations."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import PartnerGrantRevocation


async def get_partner_revocation(
    db: AsyncSession, partner_id: str, clinician_id: uuid.UUID
) -> PartnerGrantRevocation | None:
    return await db.get(PartnerGrantRevocation, (partner_id, clinician_id))
