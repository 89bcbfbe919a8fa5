"""Writing audit entries, and the admin's queries and verification of the log."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from services.records.audit import repository
from services.records.audit.schemas import AuditEntryView
from services.records.models import AuditEntry
from shared import audit_log
from shared.db import utc_now
from shared.tokens import Principal

# Where the current request came from, and an admin's break-glass reason (recorded with each
# read it allows); set by the API for each request (unset for consumed events).
request_origin: ContextVar[str | None] = ContextVar("request_origin", default=None)
break_glass_reason: ContextVar[str | None] = ContextVar("break_glass_reason", default=None)
# The app's batched writer for read entries, set by the API for each request (unset for
# consumed events and commands, whose entries stay in their own unit of work).
read_appender: ContextVar[audit_log.AuditAppender | None] = ContextVar(
    "read_appender", default=None
)
# Actions that change nothing: their entries need not commit with the request's changes.
READ_ACTIONS = frozenset({"read", "export"})
_WROTE = "rapport_audit_wrote"


@event.listens_for(Session, "after_flush")
def _note_write(session: Session, _: object) -> None:
    # A unit of work that has written holds SQLite's write lock until it commits: the
    # appender, which needs that lock, must not be waited on from inside it.
    session.info[_WROTE] = True


def _has_written(db: AsyncSession) -> bool:
    return bool(db.new or db.dirty or db.deleted or db.sync_session.info.get(_WROTE))


async def record(
    db: AsyncSession,
    principal: Principal | None,
    action: str,
    resource_type: str,
    resource_ids: Iterable[object],
    *,
    reason: str | None = None,
) -> None:
    """Append one entry per resource; ``principal`` None means records acted.

    A change's entries join the caller's unit of work (they commit with the change or not
    at all). A read's go to the app's :class:`~shared.audit_log.AuditAppender` when a
    request set one, and this returns once they are committed, so a read never becomes a
    write of its own. Nothing here reads or locks the chain: the database assigns the ids,
    and the app's sealer (shared.audit_log.AuditSealer) chains the entries once committed,
    so concurrent requests append without waiting on each other.
    """
    ids = list(resource_ids)
    if not ids:
        return
    at = utc_now()
    actor_id: uuid.UUID | None = None
    subject: str | None = None
    if principal is not None:
        try:
            actor_id = uuid.UUID(principal.subject)
        except ValueError:
            subject = principal.subject[:128]
    actor_role = (principal.role or "unknown") if principal is not None else "system"
    entries = [
        AuditEntry(
            at=at,
            actor_id=actor_id,
            actor_subject=subject,
            actor_role=actor_role[:20],
            action=action,
            resource_type=resource_type,
            resource_id=str(resource_id),
            origin=request_origin.get(),
            reason=reason,
        )
        for resource_id in ids
    ]
    appender = read_appender.get() if action in READ_ACTIONS else None
    if appender is None or _has_written(db):
        repository.add(db, *entries)
    else:
        await appender.append(entries)


async def query_audit_log(
    db: AsyncSession,
    principal: Principal,
    *,
    after_id: int,
    limit: int,
    actor_id: uuid.UUID | None,
    resource_type: str | None,
    resource_id: str | None,
) -> list[AuditEntryView]:
    """Audit entries for admins, oldest first, paged by ``after_id``. The query is audited."""
    principal.require_role("admin")
    entries = await repository.query_audit(
        db,
        after_id=after_id,
        limit=limit,
        actor_id=actor_id,
        resource_type=resource_type,
        resource_id=resource_id,
    )
    views = [AuditEntryView.model_validate(e) for e in entries]
    await record(db, principal, "read", "audit_log", [resource_id or resource_type or "*"])
    return views


async def verify_audit_log(db: AsyncSession, page_size: int = 1000) -> audit_log.Verification:
    """Walk the whole sealed chain and report every changed, missing or moved entry."""
    return await audit_log.verify_log(db, AuditEntry, page_size)
