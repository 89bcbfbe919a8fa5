"""Check-ins (outcome and session) and the flags they raise."""

from __future__ import annotations

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import audit
from services.records import repository as records
from services.records.access import SOURCE, party_role, reader_role
from services.records.check_ins import repository, rules
from services.records.check_ins.schemas import CheckInView, NewOutcomeCheckIn, NewSessionCheckIn
from services.records.errors import (
    CheckInAlreadySubmitted,
    SessionRecordNotFound,
)
from services.records.models import (
    CheckIn,
)
from shared.errors import Forbidden
from shared.events.catalog import (
    AllianceConcernFlagged,
    CheckInSubmitted,
    OutcomeBelowCutoff,
    OutcomeReliableChange,
    Payload,
)
from shared.events.outbox import add_event
from shared.tokens import Principal


def _check_in_view(check_in: CheckIn) -> CheckInView:
    names = rules.ITEM_NAMES[check_in.kind]  # type: ignore[index]
    values = (check_in.item1, check_in.item2, check_in.item3, check_in.item4)
    return CheckInView(
        id=check_in.id,
        session_id=check_in.session_id,
        client_id=check_in.client_id,
        clinician_id=check_in.clinician_id,
        kind=check_in.kind,
        items=dict(zip(names, values, strict=True)),
        total=check_in.total,
        flags=[f for f in check_in.flags.split(",") if f],
        submitted_at=check_in.submitted_at,
    )


async def submit_check_in(
    db: AsyncSession,
    principal: Principal,
    session_id: uuid.UUID,
    new_check_in: NewOutcomeCheckIn | NewSessionCheckIn,
) -> CheckInView:
    """The session's client rates the past week (outcome) or the session; flags become events."""
    record = await records.get_session_record(db, session_id)
    if record is None:
        raise SessionRecordNotFound(f"no session {session_id}")
    if party_role(principal, record.clinician_id, record.client_id) != "client":
        raise Forbidden("only the session's client submits a check-in")
    kind = new_check_in.kind
    if await repository.get_check_in(db, session_id, kind) is not None:
        raise CheckInAlreadySubmitted(
            f"kind: session {session_id} already has a {kind} check-in", field="kind"
        )
    previous = (
        await repository.latest_outcome_check_in(db, record.clinician_id, record.client_id)
        if kind == "outcome"
        else None
    )
    items = new_check_in.items()
    result = rules.score(kind, items, previous.total if previous else None)
    check_in = CheckIn(
        session_id=session_id,
        clinician_id=record.clinician_id,
        client_id=record.client_id,
        kind=kind,
        item1=items[0],
        item2=items[1],
        item3=items[2],
        item4=items[3],
        total=result.total,
        flags=",".join(result.flags),
    )
    repository.add(db, check_in)
    common = {
        "check_in_id": check_in.id,
        "session_id": session_id,
        "clinician_id": record.clinician_id,
        "client_id": record.client_id,
        "total": result.total,
    }
    add_event(
        db,
        CheckInSubmitted(**common, kind=kind, submitted_at=check_in.submitted_at),
        source=SOURCE,
    )
    at = check_in.submitted_at
    for flag in result.flags:
        payload: Payload
        if flag == "alliance-concern":
            payload = AllianceConcernFlagged(**common, at=at, lowest_item=min(items))
        elif flag == "reliable-change":
            assert previous is not None and result.change is not None
            payload = OutcomeReliableChange(
                **common,
                at=at,
                previous_total=previous.total,
                change=result.change,
            )
        else:
            payload = OutcomeBelowCutoff(**common, at=at)
        add_event(db, payload, source=SOURCE)
    await audit.record(db, principal, "create", "check_in", [check_in.id])
    return _check_in_view(check_in)


async def list_check_ins(
    db: AsyncSession, principal: Principal, session_id: uuid.UUID
) -> list[CheckInView]:
    """A session's check-ins, for its clinician and its client."""
    record = await records.get_session_record(db, session_id)
    if record is None:
        raise SessionRecordNotFound(f"no session {session_id}")
    await reader_role(
        db, principal, record.clinician_id, record.client_id, "session_record", session_id
    )
    check_ins = await repository.list_check_ins_in_session(db, session_id)
    await audit.record(db, principal, "read", "check_in", (c.id for c in check_ins))
    return [_check_in_view(c) for c in check_ins]
