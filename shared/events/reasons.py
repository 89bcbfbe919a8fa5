"""Why a participant left a call and why a session ended: one list for signaling (which
decides), the event catalog (which carries them) and webhooks (which forward them).

Each value is the string on the wire; events already written carry these strings, so a value
never changes once published (docs/webhooks.md lists them for partners).
"""

from __future__ import annotations

from enum import StrEnum


class LeaveReason(StrEnum):
    """``participant.left``'s ``reason``."""

    LEFT = "left"
    DROPPED = "dropped"
    DECLINED = "declined"
    SENT_BACK = "sent-back"
    REPLACED = "replaced"
    SESSION_ENDED = "session-ended"
    REVOKED = "revoked"


class EndReason(StrEnum):
    """``session.ended``'s ``reason``."""

    ENDED = "ended"
    EVERYONE_LEFT = "everyone-left"
    EXPIRED = "expired"
    # Everyone had left for longer than signaling's empty-room timeout (no ``ended_by``).
    EMPTY_ROOM_TIMEOUT = "empty-room timeout"
