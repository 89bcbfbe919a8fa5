"""Signaling's errors (subclasses of the shared error tree) and what the protocol makes of them.

Two families, because a WebSocket answers in two ways: a refused join ends the connection with
a close code (:class:`JoinRefused`), a refused message gets an ``error`` message and the
connection stays open (:class:`MessageRefused`).
"""

from __future__ import annotations

from typing import ClassVar

from services.signaling.schemas import CloseCode, ErrorCode
from shared.errors import Conflict, Forbidden, InvalidRequest, NotFound, RapportError


class JoinRefused(RapportError):
    """A ``join`` that cannot go ahead; the socket is closed with :attr:`close_code`."""

    close_code: ClassVar[CloseCode] = CloseCode.FORBIDDEN


class UnknownSession(JoinRefused, NotFound):
    """No appointment event has told signaling about this session (yet)."""

    close_code = CloseCode.UNKNOWN_SESSION

    def __init__(self) -> None:
        super().__init__("unknown session")


class NotYourSession(JoinRefused, Forbidden):
    """The token's user is neither the session's clinician nor its client."""

    close_code = CloseCode.FORBIDDEN

    def __init__(self) -> None:
        super().__init__("forbidden")


class SessionOver(JoinRefused, Conflict):
    """The clinician has ended this session; nobody joins it again."""

    close_code = CloseCode.SESSION_ENDED

    def __init__(self) -> None:
        super().__init__("session ended")


class SessionCancelled(JoinRefused, Conflict):
    """The session's appointment was cancelled; it will not take place."""

    close_code = CloseCode.SESSION_ENDED

    def __init__(self) -> None:
        super().__init__("session cancelled: its appointment was cancelled")


class TooEarly(JoinRefused, Conflict):
    """The session's join window has not opened yet."""

    close_code = CloseCode.TOO_EARLY

    def __init__(self) -> None:
        super().__init__("too early: the session is not open for joining yet")


class TooLate(JoinRefused, Conflict):
    """The session's join window has closed."""

    close_code = CloseCode.TOO_LATE

    def __init__(self) -> None:
        super().__init__("too late: the session is closed for joining")


class ConsentRequired(JoinRefused, Forbidden):
    """The session's client has not signed the clinic's current telehealth consent (or
    withdrew it), and the clinic requires it before joining."""

    close_code = CloseCode.CONSENT_REQUIRED

    def __init__(self) -> None:
        super().__init__(
            "consent required: sign the clinic's current telehealth consent, then join again"
        )


class NotHeldHere(JoinRefused, Conflict):
    """This process does not own the session's room (any more): the client reconnects
    through the gateway, which routes it to the owner."""

    close_code = CloseCode.MOVED

    def __init__(self) -> None:
        super().__init__("the room is held by another signaling process: reconnect")


class MessageRefused(RapportError):
    """A message the server will not act on; the sender gets ``{"type": "error", "code": ...}``."""

    code: ClassVar[ErrorCode] = "invalid-message"


class InvalidMessage(MessageRefused, InvalidRequest):
    """The message does not fit the protocol."""

    code = "invalid-message"


class NotJoined(MessageRefused, Forbidden):
    """The connection has not joined a room (or has been replaced by a newer one)."""

    code = "not-joined"


class NotAllowed(MessageRefused, Forbidden):
    """The participant's role may not do this (only the clinician admits, declines, ends)."""

    code = "forbidden"


class NotAdmitted(MessageRefused, Forbidden):
    """A participant still in the waiting room tried to take part in the call."""

    code = "not-admitted"


class UnknownParticipant(MessageRefused, NotFound):
    """The message names a participant who is not where it has to be."""

    code = "unknown-participant"


class RoomFull(MessageRefused, Conflict):
    """Admitting one more would exceed the appointment's ``max_participants``."""

    code = "room-full"


class Moving(MessageRefused, Conflict):
    """The room is moving to another process: the change is not made here."""

    code = "moving"

    def __init__(self) -> None:
        super().__init__("the room is moving to another signaling process: reconnect")
