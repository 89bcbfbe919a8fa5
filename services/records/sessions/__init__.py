"""Sessions: each session's record (attendance, connection quality, completion), built from
what signaling reports; the progress across a client's sessions; records' copy of the users.
"""

from __future__ import annotations

from services.records.sessions.billing import BillingTable
from services.records.sessions.service import (
    announce_settled_sessions,
    client_progress,
    close_session,
    note_admission,
    note_call_connected,
    note_call_quality,
    note_check_in,
    note_guest_invited,
    note_guest_revoked,
    note_join,
    note_leave,
    read_session_record,
    record_shared_progress,
    register_user,
)

__all__ = [
    "BillingTable",
    "announce_settled_sessions",
    "client_progress",
    "close_session",
    "note_admission",
    "note_call_connected",
    "note_call_quality",
    "note_check_in",
    "note_guest_invited",
    "note_guest_revoked",
    "note_join",
    "note_leave",
    "read_session_record",
    "record_shared_progress",
    "register_user",
]
