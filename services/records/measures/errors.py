"""The measures sub-domain's errors, each mapped to a response by shared.errors."""

from __future__ import annotations

from shared.errors import Conflict, InvalidRequest, NotFound


class UnknownInstrument(NotFound):
    """No instrument has this code."""


class MeasureNotAssigned(InvalidRequest):
    """The client answers only instruments their clinician assigned."""


class MeasureNotDue(Conflict):
    """The instrument was already answered for this session (or is not due by its cadence)."""


class UnscorableResponse(InvalidRequest):
    """An answer the item does not offer, an unknown item, or more items left out than the
    instrument's published missing-item rule allows."""
