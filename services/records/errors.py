"""The records service's errors, each mapped to a response by shared.errors."""

from __future__ import annotations

from shared.errors import Conflict, Forbidden, InvalidRequest, NotFound, RapportError


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


class NoCareRelationship(InvalidRequest):
    """The clinician and client named have no active care relationship."""


class CareRelationshipNotFound(NotFound):
    pass


class GoalNotActive(Conflict):
    """Progress is reported only on goals both parties agreed to (status active)."""


class AlreadyAgreed(Conflict):
    """This party has already agreed to the goal."""


class UnknownGoalUpdate(InvalidRequest):
    """A correction names no update of the caller's on this goal, or one already corrected."""


class CheckInAlreadySubmitted(Conflict):
    """The session already has a check-in of that kind."""


class AppointmentNotFound(NotFound):
    pass


class AppointmentClosed(Conflict):
    """The appointment is cancelled, fulfilled or a no-show (or not in a state for this)."""


class PlanClosed(Conflict):
    """The plan cannot make that move (it is completed, or the step is out of order)."""


class UnknownValue(InvalidRequest):
    """The value id names none of this client's current values."""


class NotABookableSlot(InvalidRequest):
    """A client or partner app books only a free slot of the clinician's availability."""


class NoAvailability(NotFound):
    """The clinician has not set their weekly hours yet."""


class AvailabilityExceptionNotFound(NotFound):
    pass


class UnknownParticipant(InvalidRequest):
    """An invited participant id names no registered user (or names the clinician or client)."""


class FhirResourceNotFound(NotFound):
    """No such FHIR resource, or one the caller may not read (the same answer for both)."""


class FhirTypeNotSupported(NotFound):
    """A resource type the FHIR API does not serve."""


class FhirFormatNotSupported(RapportError):
    """A ``_format`` other than JSON."""

    status_code = 406


class LocationNotStated(NotFound):
    """The session's client has not said where they are for this session yet."""


class NoEmergencyContact(InvalidRequest):
    """The client has no emergency contact on file and the statement gave none."""


class SessionOver(Conflict):
    """The session has ended: what happens at its start can no longer change."""


class ConsentDocumentNotFound(NotFound):
    """No consent document with that id, or the clinic has published none yet."""


class ConsentVersionNotNewer(Conflict):
    """A published consent version must be higher than every version before it."""


class ConsentNotCurrent(Conflict):
    """The signature names a consent version or hash other than the current one."""


class ConsentNotSigned(Conflict):
    """The client has no signature in force to withdraw."""
