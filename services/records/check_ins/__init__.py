"""Check-ins: the client's outcome and session ratings, and the flags they raise.

The scoring itself is pure and shared with the FHIR export: ``services.records.checkins``.
"""

from __future__ import annotations

from services.records.check_ins.service import list_check_ins, submit_check_in

__all__ = ["list_check_ins", "submit_check_in"]
