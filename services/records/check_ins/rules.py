"""Check-in scoring: totals and the flags a clinician should see.

Pure rules, no I/O. The outcome check-in has the Outcome Rating Scale's structure and the
session check-in the Session Rating Scale's (four 0-10 items each, total 0-40); the thresholds
are the ones the issue names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CheckInKind = Literal["outcome", "session"]
Flag = Literal["alliance-concern", "reliable-change", "below-cutoff"]

ITEM_NAMES: dict[CheckInKind, tuple[str, str, str, str]] = {
    "outcome": ("individual", "interpersonal", "social", "overall"),
    "session": ("relationship", "goals_and_topics", "approach", "overall"),
}
ALLIANCE_TOTAL_THRESHOLD = 36  # a session total below this is a concern
ALLIANCE_ITEM_THRESHOLD = 9  # so is any session item below this
RELIABLE_CHANGE = 5  # an outcome total moving by at least this much
CLINICAL_CUTOFF = 25  # an outcome total at or below this


@dataclass(frozen=True)
class Score:
    """A check-in's total and flags; ``change`` is against the previous outcome total."""

    total: int
    flags: tuple[Flag, ...]
    change: int | None = None


def score(
    kind: CheckInKind, items: tuple[int, int, int, int], previous_outcome_total: int | None
) -> Score:
    """Total the four items and raise the flags that apply to this kind of check-in."""
    if any(not 0 <= item <= 10 for item in items):
        raise ValueError("every item is rated 0 to 10")
    total = sum(items)
    flags: list[Flag] = []
    if kind == "session":
        if total < ALLIANCE_TOTAL_THRESHOLD or min(items) < ALLIANCE_ITEM_THRESHOLD:
            flags.append("alliance-concern")
        return Score(total, tuple(flags))
    change = None if previous_outcome_total is None else total - previous_outcome_total
    if change is not None and abs(change) >= RELIABLE_CHANGE:
        flags.append("reliable-change")
    if total <= CLINICAL_CUTOFF:
        flags.append("below-cutoff")
    return Score(total, tuple(flags), change)
