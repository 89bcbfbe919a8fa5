"""The scopes a partner app may hold: one list for identity (which issues them), records and
webhooks (which check them). docs/contracts.md says what each one allows."""

from __future__ import annotations

from enum import StrEnum


class PartnerScope(StrEnum):
    """A partner token's ``scope`` entries; each value is the string on the wire."""

    APPOINTMENTS_READ = "appointments:read"
    APPOINTMENTS_WRITE = "appointments:write"
    SESSIONS_READ = "sessions:read"
    GOALS_READ = "goals:read"
    # The FHIR export (appointments, encounters, goals in one Bundle) has a scope of its own,
    # so an app can be given the export without the piecemeal reads, or those without it.
    FHIR_READ = "fhir:read"
    WEBHOOKS_MANAGE = "webhooks:manage"
