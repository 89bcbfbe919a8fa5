"""Clinician notes: private (the clinician's alone) or shared with the client."""

from __future__ import annotations

from services.records.notes.service import list_notes, write_note

__all__ = ["list_notes", "write_note"]
