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
from services.records.service.appointments import (
    book_appointment,
    cancel_appointment,
    list_appointments,
    mark_no_show,
    reschedule_appointment,
)
from services.records.service.partner_grants import (
    note_partner_grant,
    note_partner_revocation,
)
from services.records.service.reminders import send_due_reminders
from services.records.service.reports import (
    client_progress,
)
from services.records.service.scheduling import (
    SlotRules,
    add_availability_exception,
    list_slots,
    read_availability,
    remove_availability_exception,
    set_availability,
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
    "SlotRules",
    "add_availability_exception",
    "announce_settled_sessions",
    "book_appointment",
    "break_glass_reason",
    "cancel_appointment",
    "client_progress",
    "close_session",
    "list_appointments",
    "list_slots",
    "mark_no_show",
    "note_admission",
    "note_call_connected",
    "note_call_quality",
    "note_check_in",
    "note_join",
    "note_leave",
    "note_partner_grant",
    "note_partner_revocation",
    "query_audit_log",
    "read_availability",
    "read_session_record",
    "record_shared_progress",
    "remove_availability_exception",
    "register_user",
    "request_origin",
    "reschedule_appointment",
    "send_due_reminders",
    "set_availability",
    "verify_audit_log",
]
