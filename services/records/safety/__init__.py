"""Safety: flags raised by risk answers, acknowledged by the clinician before a deadline or
escalated to the clinic's on-call, and the client's versioned safety plan.

Measures call ``raise_for_response`` when a response is scored; the escalation loop calls
``escalate_overdue``; the caseload view asks ``unresolved_counts``.
"""

from __future__ import annotations

from services.records.safety.service import (
    escalate_overdue,
    raise_for_response,
    unresolved_counts,
)

__all__ = ["escalate_overdue", "raise_for_response", "unresolved_counts"]
