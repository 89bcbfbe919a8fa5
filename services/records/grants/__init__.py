"""Partner grants: what records keeps of the access clinicians grant partner apps (in
identity), so that tokens issued before a revocation stop reaching the clinician's data.

The grants are read where access is decided: :func:`services.records.access.partner_clinicians`.
"""

from __future__ import annotations

from services.records.grants.service import note_partner_grant, note_partner_revocation

__all__ = ["note_partner_grant", "note_partner_revocation"]
