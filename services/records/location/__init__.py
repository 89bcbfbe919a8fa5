"""The client's location at the start of each session and the clinician's licensed
jurisdictions: what the clinician sees before admitting, and where billing learns whether
the client was at home."""

from __future__ import annotations

from services.records.location.service import (
    read_jurisdictions,
    read_location,
    set_jurisdictions,
    state_location,
    stated_at_home,
)

__all__ = [
    "read_jurisdictions",
    "read_location",
    "set_jurisdictions",
    "state_location",
    "stated_at_home",
]
