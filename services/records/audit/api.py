"""The audit log's HTTP route, for admins."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.records.audit import service
from services.records.audit.schemas import AuditEntryView
from shared.dependencies import SessionDep
from shared.tokens import CurrentPrincipal

BREAK_GLASS_HEADER = "X-Break-Glass-Reason"


async def request_context(request: Request) -> None:
    """Who the request came from (for the audit log), and a break-glass reason on reads.

    Every records router depends on this, so each request's audit entries say where it came
    from.
    """
    # The address the trusted-proxy policy settled on (shared/forwarded.py), never the
    # X-Forwarded-For header itself, which anyone can send.
    origin = request.client.host if request.client else ""
    service.request_origin.set(origin[:64] or None)
    reason = request.headers.get(BREAK_GLASS_HEADER, "").strip()
    service.break_glass_reason.set(reason[:500] if reason and request.method == "GET" else None)
    service.read_appender.set(request.app.state.audit_appender)


router = APIRouter(prefix="/v1", tags=["records"], dependencies=[Depends(request_context)])


@router.get("/audit")
async def query_audit_log(
    principal: CurrentPrincipal,
    db: SessionDep,
    actor_id: Annotated[uuid.UUID | None, Query()] = None,
    resource_type: Annotated[str | None, Query(max_length=40)] = None,
    resource_id: Annotated[str | None, Query(max_length=64)] = None,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AuditEntryView]:
    """The audit log for admins, oldest first; page with ``after_id`` (the last id seen)."""
    return await service.query_audit_log(
        db,
        principal,
        after_id=after_id,
        limit=limit,
        actor_id=actor_id,
        resource_type=resource_type,
        resource_id=resource_id,
    )
