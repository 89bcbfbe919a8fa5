"""The scopes a partner app may hold: one list for identity (which issues them), records and
webhooks (which check them). docs/contracts.md says what each one allows."""

from __future__ import annotations

import re
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


# SMART App Launch 2.2 system scopes (``system/Goal.rs``) in Rapport's partner scopes: what a
# FHIR resource type needs to be read (r, s) or written (c, u, d). The FHIR API (records)
# checks the same table. A type with no read scope is never a partner's (QuestionnaireResponse
# holds check-ins, which no partner sees); Patient and CarePlan (the care relationship) are
# otherwise shown only in the FHIR export, so they need its scope.
SMART_RESOURCE_SCOPES: dict[str, tuple[PartnerScope | None, PartnerScope | None]] = {
    "Patient": (PartnerScope.FHIR_READ, None),
    "Appointment": (PartnerScope.APPOINTMENTS_READ, PartnerScope.APPOINTMENTS_WRITE),
    "Encounter": (PartnerScope.SESSIONS_READ, None),
    "Goal": (PartnerScope.GOALS_READ, None),
    "CarePlan": (PartnerScope.FHIR_READ, None),
    "Observation": (PartnerScope.GOALS_READ, None),
    "QuestionnaireResponse": (None, None),
}

_SMART_SCOPE = re.compile(
    r"^system/(?P<type>[A-Z][A-Za-z]+|\*)\.(?P<perm>(?=[cruds]+$)c?r?u?d?s?|read|write|\*)$"
)


class UnknownSmartScope(ValueError):
    """A SMART scope that is malformed or that no partner scope grants."""


def smart_scope_grants(scope: str) -> frozenset[PartnerScope]:
    """The partner scopes a SMART system scope needs, e.g. ``system/Appointment.rs`` ->
    ``{appointments:read}``; ``*`` names every resource type or every permission.

    Raises:
        UnknownSmartScope: not a system scope in v1 (``.read``) or v2 (``.cruds``) form, or a
            resource type or permission that no partner scope allows.
    """
    match = _SMART_SCOPE.match(scope)
    if match is None:
        raise UnknownSmartScope(f"{scope} is not a SMART system scope (system/Type.rs)")
    types = list(SMART_RESOURCE_SCOPES) if match["type"] == "*" else [match["type"]]
    perm = match["perm"]
    if perm in ("read", "write", "*"):  # SMART v1 forms
        reads, writes = perm != "write", perm != "read"
    else:
        reads, writes = bool(set(perm) & set("rs")), bool(set(perm) & set("cud"))
    needed: set[PartnerScope] = set()
    for resource_type in types:
        read, write = SMART_RESOURCE_SCOPES.get(resource_type, (None, None))
        if reads and read is not None:
            needed.add(read)
        if writes and write is not None:
            needed.add(write)
        wildcard = match["type"] == "*"
        if not wildcard and ((reads and read is None) or (writes and write is None)):
            raise UnknownSmartScope(f"{scope} is not offered to partner apps")
    return frozenset(needed)


def is_smart_scope(scope: str) -> bool:
    """Whether ``scope`` is written as a SMART scope (``system/…``) rather than a partner one."""
    return scope.startswith("system/")
