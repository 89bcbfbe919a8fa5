"""FHIR's error shape, for the FHIR API (records) and the gateway's own answers on its routes:
an OperationOutcome in ``application/fhir+json`` rather than the other APIs' error body."""

from __future__ import annotations

from typing import Any

FHIR_JSON = "application/fhir+json"

# Each error's OperationOutcome issue type (FHIR's IssueType codes), by HTTP status.
ISSUE_TYPES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    429: "throttled",
}


def operation_outcome(status_code: int, diagnostics: str) -> dict[str, Any]:
    """An error as FHIR says: one issue with the status's issue type and the prose."""
    code = ISSUE_TYPES.get(status_code, "invalid" if status_code < 500 else "transient")
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": diagnostics}],
    }
