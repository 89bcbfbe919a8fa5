"""The records service's errors, each mapped to a response by shared.errors."""

from __future__ import annotations

from shared.errors import Conflict, Forbidden, InvalidRequest, NotFound


class UnknownClient(InvalidRequest):
    """The client id names no registered user with the role client."""


class UnknownSession(InvalidRequest):
    """A goal update names a session that is not one of the goal's clinician and client."""


class AppointmentOverlaps(Conflict):
    """The clinician already has a booked appointment in that time."""


class GoalNotFound(NotFound):
    pass


class SessionRecordNotFound(NotFound):
    pass


class NotYourRecord(Forbidden):
    """The caller is neither the clinician nor the client of this record."""
