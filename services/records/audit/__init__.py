"""The audit log: every use case records who read or changed what; admins query and verify it.

The generic hash chain and its sealer are ``shared.audit_log``; this package writes records'
entries and serves them.
"""

from __future__ import annotations

from services.records.audit.api import request_context
from services.records.audit.service import (
    break_glass_reason,
    query_audit_log,
    record,
    request_origin,
    verify_audit_log,
)

__all__ = [
    "break_glass_reason",
    "query_audit_log",
    "record",
    "request_context",
    "request_origin",
    "verify_audit_log",
]
