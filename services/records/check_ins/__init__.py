"""Check-ins: the client's outcome and session ratings, and the flags they raise.

The scoring itself is pure (``rules``); its item names and cutoff are public, for the FHIR
export and the treatment plan's readiness.
"""

from __future__ import annotations

from services.records.check_ins.rules import CLINICAL_CUTOFF, ITEM_NAMES
from services.records.check_ins.service import list_check_ins, submit_check_in

__all__ = ["CLINICAL_CUTOFF", "ITEM_NAMES", "list_check_ins", "submit_check_in"]
