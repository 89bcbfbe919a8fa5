"""The clinic's telehealth consent: versioned documents an admin publishes, clients' signatures
and withdrawals, and each client's status for their clinician; signaling learns of it from
``consent.*`` events and holds joins until the client has signed the current version."""

from __future__ import annotations

from services.records.consent.service import (
    client_consent,
    current_document,
    list_documents,
    publish_document,
    read_document,
    sign,
    signatures_for_export,
    withdraw,
)

__all__ = [
    "client_consent",
    "current_document",
    "list_documents",
    "publish_document",
    "read_document",
    "sign",
    "signatures_for_export",
    "withdraw",
]
