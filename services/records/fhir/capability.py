"""The FHIR API's CapabilityStatement (``/fhir/metadata``), from the search parameter table."""

from __future__ import annotations

from typing import Any

from services.records.fhir.rules import FHIR_VERSION
from services.records.fhir.search import SEARCH_PARAMETERS

SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
# The day this statement last changed (what it says, not when it is served).
PUBLISHED = "2026-12-04"


def _search_params(resource_type: str) -> list[dict[str, str]]:
    names = SEARCH_PARAMETERS[resource_type]
    params = [
        {"name": "_id", "type": "token"},
        {"name": "_lastUpdated", "type": "date"},
    ]
    if names.patient:
        params.append({"name": "patient", "type": "reference"})
    if names.date is not None:
        params.append({"name": names.date, "type": "date"})
    if names.status is not None:
        params.append({"name": names.status, "type": "token"})
    return params


def capability_statement(base_url: str, public_url: str) -> dict[str, Any]:
    """What this server does: read and search-type on each resource type, JSON only, behind
    SMART backend services tokens (or the clinician's own access token)."""
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": PUBLISHED,
        "publisher": "Rapport",
        "kind": "instance",
        "software": {"name": "Rapport"},
        "implementation": {"description": "Rapport's FHIR R4 API", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "service": [
                        {"coding": [{"system": SECURITY_SERVICE, "code": "SMART-on-FHIR"}]}
                    ],
                    "description": (
                        "Bearer tokens: partner apps as SMART backend services (discovery at "
                        f"{public_url}/.well-known/smart-configuration, system scopes such as "
                        "system/Goal.rs), clinicians with their access token."
                    ),
                },
                "resource": [
                    {
                        "type": resource_type,
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": _search_params(resource_type),
                    }
                    for resource_type in SEARCH_PARAMETERS
                ],
            }
        ],
    }
