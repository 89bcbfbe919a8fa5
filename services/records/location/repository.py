"""The SQL of stated locations, emergency contacts and licensed jurisdictions."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.models import ClinicianJurisdictions, EmergencyContact, SessionLocation


async def get_location(db: AsyncSession, session_id: uuid.UUID) -> SessionLocation | None:
    return await db.get(SessionLocation, session_id)


async def get_emergency_contact(db: AsyncSession, client_id: uuid.UUID) -> EmergencyContact | None:
    return await db.get(EmergencyContact, client_id)


async def get_jurisdictions(
    db: AsyncSession, clinician_id: uuid.UUID
) -> ClinicianJurisdictions | None:
    return await db.get(ClinicianJurisdictions, clinician_id)
