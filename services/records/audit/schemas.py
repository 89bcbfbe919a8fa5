"""What the audit log shows admins."""

from __future__ import annotations

import uuid
from datetime import datetime

from services.records.schemas import View


class AuditEntryView(View):
    id: int
    at: datetime
    actor_id: uuid.UUID | None
    actor_subject: str | None
    actor_role: str
    action: str
    resource_type: str
    resource_id: str
    origin: str | None
    reason: str | None
    prev_hash: str | None
    entry_hash: str | None
