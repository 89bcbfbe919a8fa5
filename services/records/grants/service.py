"""What records keeps of identity's partner grants: the revocations, so that partner tokens
issued before a revocation stop reaching the clinician's data at once (see
:func:`services.records.access.partner_clinicians`)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import repository as records
from services.records.grants import repository
from services.records.models import PartnerGrantRevocation
from shared.events.catalog import PartnerAccessGranted, PartnerAccessRevoked


async def note_partner_revocation(db: AsyncSession, event: PartnerAccessRevoked) -> None:
    """A clinician revoked a partner app's access: refuse its tokens issued until then."""
    revocation = await repository.get_partner_revocation(db, event.client_id, event.clinician_id)
    if revocation is None:
        records.add(
            db,
            PartnerGrantRevocation(
                partner_id=event.client_id,
                clinician_id=event.clinician_id,
                revoked_at=event.revoked_at,
            ),
        )
        return
    # The latest revocation counts (a redelivered older one changes nothing).
    if event.revoked_at > revocation.revoked_at:
        revocation.revoked_at = event.revoked_at
        records.add(db, revocation)


async def note_partner_grant(db: AsyncSession, event: PartnerAccessGranted) -> None:
    """A clinician granted (again) a partner app access.

    Tokens issued after the re-grant name the clinician again and are believed; tokens issued
    before the revocation stay refused, so the revocation row is kept and the re-grant noted.
    """
    revocation = await repository.get_partner_revocation(db, event.client_id, event.clinician_id)
    if revocation is None or event.granted_at < revocation.revoked_at:
        return
    revocation.regranted_at = event.granted_at
    records.add(db, revocation)
