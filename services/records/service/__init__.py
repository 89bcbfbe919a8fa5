"""The records use cases, one module per part of the working partnership.

Entry points (``api``, ``events``, ``app``) call these through ``service.<name>``.
"""

from __future__ import annotations

from services.records.audit import (
    break_glass_reason,
    query_audit_log,
    request_origin,
    verify_audit_log,
)
from services.records.service.partner_grants import (
    note_partner_grant,
    note_partner_revocation,
)
from services.records.service.reports import (
    client_progress,
)
from services.records.service.session_records import (
    announce_settled_sessions,
    close_session,
    note_admission,
    note_call_connected,
    note_call_quality,
    note_check_in,
    note_join,
    note_leave,
    read_session_record,
    record_shared_progress,
    register_user,
)

__all__ = [
    "announce_settled_sessions",
    "break_glass_reason",
    "client_progress",
    "close_session",
    "note_admission",
    "note_call_connected",
    "note_call_quality",
    "note_check_in",
    "note_join",
    "note_leave",
    "note_partner_grant",
    "note_partner_revocation",
    "query_audit_log",
    "read_session_record",
    "record_shared_progress",
    "register_user",
    "request_origin",
    "verify_audit_log",
]
