"""Safety flags: what raises one, how urgent it is, when it must be acknowledged, and the
safety plan's headings.

Pure rules, no I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

Severity = Literal["low", "medium", "high"]
FlagStatus = Literal["open", "escalated", "acknowledged"]
# What the clinician did about a flag, recorded with the acknowledgement.
AckAction = Literal["reviewed-in-session", "contacted", "safety-plan-updated", "referred"]
ACK_ACTIONS: tuple[AckAction, ...] = (
    "reviewed-in-session",
    "contacted",
    "safety-plan-updated",
    "referred",
)
# The Stanley-Brown Safety Planning Intervention's steps, in order.
PLAN_SECTIONS: tuple[str, ...] = (
    "warning_signs",
    "internal_coping_strategies",
    "people_and_places_for_distraction",
    "people_to_ask_for_help",
    "professionals_and_crisis_lines",
    "making_the_environment_safe",
)


def risk_severity(risk_item: int | None) -> Severity | None:
    """A flag's severity from PHQ-9 item 9 (0-3), or None when the answer raises no flag:
    any answer above "not at all" calls for same-day evaluation whatever the total."""
    if not risk_item:
        return None
    severities: dict[int, Severity] = {1: "low", 2: "medium", 3: "high"}
    return severities[risk_item]


def acknowledge_by(raised_at: datetime, deadline: timedelta) -> datetime:
    """When an unacknowledged flag escalates: the clinic's deadline after it was raised."""
    return raised_at + deadline


def is_overdue(status: FlagStatus, due_at: datetime, now: datetime) -> bool:
    """An open flag past its deadline escalates (once: an escalated flag stays escalated)."""
    return status == "open" and now >= due_at
