"""FHIR R4 export: one client's partnership as a Bundle (``rules``: the pure mapping)."""

from __future__ import annotations

from services.records.fhir.service import export_client_fhir

__all__ = ["export_client_fhir"]
