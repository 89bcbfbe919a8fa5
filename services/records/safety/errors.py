"""The safety sub-domain's errors, each mapped to a response by shared.errors."""

from __future__ import annotations

from shared.errors import Conflict, NotFound


class SafetyFlagNotFound(NotFound):
    """No flag has this id among those the caller may see."""


class FlagAlreadyAcknowledged(Conflict):
    """The flag was acknowledged already; its record of what was done stands."""


class SafetyPlanNotFound(NotFound):
    """The client has no safety plan yet (or no such version of it)."""
