"""How a session record is derived from what signaling reports (pure rules, no I/O).

Every rule is a min or a max (or derived from them), so duplicated or reordered events leave
the same record.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

Outcome = Literal["completed", "no-show", "interrupted"]


def utc(at: datetime) -> datetime:
    """An event's time as aware UTC.

    The catalog's datetimes accept naive values; producers send UTC, so read them as UTC.
    """
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def earliest(current: datetime | None, candidate: datetime) -> datetime:
    candidate = utc(candidate)
    return candidate if current is None or candidate < current else current


def latest(current: datetime | None, candidate: datetime) -> datetime:
    candidate = utc(candidate)
    return candidate if current is None or candidate > current else current


def outcome(clinician_id: uuid.UUID, client_id: uuid.UUID, attended: set[uuid.UUID]) -> Outcome:
    """A no-show without the client; completed with both parties; interrupted otherwise."""
    if client_id not in attended:
        return "no-show"
    if clinician_id in attended:
        return "completed"
    return "interrupted"
