"""Measures: assigning instruments, answering them, and reading trends and the caseload.

A response is scored by ``rules`` when it is submitted; what it means for safety is the
safety sub-domain's (``safety.raise_for_response``). Events carry scores, never answers.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import audit, safety
from services.records import repository as records
from services.records.access import SOURCE, party_role, require_relationship
from services.records.errors import NotYourRecord, SessionRecordNotFound
from services.records.measures import repository, rules
from services.records.measures.errors import (
    MeasureNotAssigned,
    MeasureNotDue,
    UnknownInstrument,
    UnscorableResponse,
)
from services.records.measures.schemas import (
    AssignmentView,
    Caseload,
    CaseloadEntry,
    DueMeasure,
    InstrumentTrend,
    InstrumentView,
    MeasuresSummary,
    NewAssignment,
    NewResponse,
    ResponseView,
    TrendPoint,
)
from services.records.models import MeasureAssignment, MeasureResponse
from shared.errors import Forbidden
from shared.events.catalog import MeasureCompleted
from shared.events.outbox import add_event
from shared.tokens import Principal


def _instrument(code: str) -> rules.Instrument:
    try:
        return rules.instrument(code)
    except KeyError:
        known = ", ".join(rules.INSTRUMENTS)
        raise UnknownInstrument(f"no such instrument; known: {known}") from None


def _bands(inst: rules.Instrument) -> list[dict[str, int | str]]:
    return [{"low": b.low, "high": b.high, "name": b.name} for b in inst.bands]


def list_instruments() -> list[InstrumentView]:
    """Every instrument Rapport ships, in its current version."""
    return [
        InstrumentView(
            code=inst.code,
            version=inst.version,
            title=inst.title,
            url=inst.url,
            items=len(inst.item_ids),
            min_total=inst.min_value * len(inst.item_ids),
            max_total=inst.max_total,
            bands=_bands(inst),
            reliable_change=inst.reliable_change,
            caseness=inst.caseness,
        )
        for inst in map(rules.instrument, rules.INSTRUMENTS)
    ]


def questionnaire(code: str) -> dict[str, Any]:
    """The instrument's FHIR R4 Questionnaire (what the client's page renders)."""
    return _instrument(code).questionnaire()


async def assign(
    db: AsyncSession, principal: Principal, client_id: uuid.UUID, new: NewAssignment
) -> AssignmentView:
    """The clinician asks their client to answer an instrument on a cadence."""
    principal.require_role("clinician")
    await require_relationship(db, principal.user_id, client_id, "client_id")
    assignment = await repository.get_assignment(db, principal.user_id, client_id, new.instrument)
    if assignment is None:
        assignment = MeasureAssignment(
            clinician_id=principal.user_id,
            client_id=client_id,
            instrument=new.instrument,
            cadence=new.cadence,
        )
    assignment.cadence = new.cadence
    assignment.every_n = new.every_n
    assignment.active = True
    repository.add(db, assignment)
    await audit.record(db, principal, "create", "measure_assignment", [assignment.id])
    return AssignmentView.model_validate(assignment)


async def list_assignments(
    db: AsyncSession, principal: Principal, client_id: uuid.UUID
) -> list[AssignmentView]:
    """A client's assignments: the calling clinician's, or for the client all of theirs."""
    if principal.role == "clinician":
        assignments = await repository.list_assignments(db, principal.user_id, client_id)
    elif principal.user_id == client_id:
        assignments = await repository.assignments_of_client(db, client_id)
    else:
        raise NotYourRecord("only the client and their clinician see their measures")
    await audit.record(db, principal, "read", "measure_assignment", [a.id for a in assignments])
    return [AssignmentView.model_validate(a) for a in assignments]


async def _session_of_client(
    db: AsyncSession, principal: Principal, session_id: uuid.UUID
) -> tuple[uuid.UUID, uuid.UUID]:
    record = await records.get_session_record(db, session_id)
    if record is None:
        raise SessionRecordNotFound(f"no session {session_id}")
    if party_role(principal, record.clinician_id, record.client_id) != "client":
        raise Forbidden("only the session's client answers its measures")
    return record.clinician_id, record.client_id


async def due_in_session(
    db: AsyncSession, principal: Principal, session_id: uuid.UUID
) -> list[DueMeasure]:
    """What the session's client is asked to answer now, by each assignment's cadence."""
    clinician_id, client_id = await _session_of_client(db, principal, session_id)
    held = await repository.sessions_held(db, clinician_id, client_id)
    relationship = await records.get_active_relationship(db, clinician_id, client_id)
    ending = relationship is not None and relationship.plan_status == "ending"
    due = []
    for assignment in await repository.list_assignments(db, clinician_id, client_id):
        if not assignment.active:
            continue
        if await repository.answered_in_session(db, session_id, assignment.instrument):
            continue
        given = await repository.responses_to(db, clinician_id, client_id, assignment.instrument)
        if rules.due(
            assignment.cadence,  # type: ignore[arg-type]
            every_n=assignment.every_n,
            sessions_held=held,
            responses_given=len(given),
            last_response_session=given[-1].sessions_held if given else None,
            discharge_planned=ending,
        ):
            inst = rules.instrument(assignment.instrument)
            due.append(
                DueMeasure(
                    assignment_id=assignment.id,
                    instrument=inst.code,
                    title=inst.title,
                    version=inst.version,
                )
            )
    await audit.record(db, principal, "read", "measure_assignment", [d.assignment_id for d in due])
    return due


def _response_view(
    response: MeasureResponse, *, with_answers: bool, flagged: bool = False
) -> ResponseView:
    inst = rules.instrument(response.instrument)
    return ResponseView(
        id=response.id,
        client_id=response.client_id,
        clinician_id=response.clinician_id,
        session_id=response.session_id,
        instrument=inst.code,
        instrument_version=response.instrument_version,
        phase=response.phase,
        total=response.total,
        band=response.band,
        prorated=response.prorated,
        answered=response.answered,
        subscales=response.subscales,
        completed_at=response.completed_at,
        answers=dict(zip(inst.item_ids, response.answers, strict=True)) if with_answers else None,
        safety_flag_raised=flagged,
    )


async def submit_response(
    db: AsyncSession,
    principal: Principal,
    session_id: uuid.UUID,
    new: NewResponse,
    *,
    flag_deadline: timedelta,
) -> ResponseView:
    """The session's client answers an assigned instrument before, while waiting for, or
    after the call. ``measure.completed`` carries the score; a risk answer raises a flag."""
    clinician_id, client_id = await _session_of_client(db, principal, session_id)
    assignment = await repository.get_assignment(db, clinician_id, client_id, new.instrument)
    if assignment is None or not assignment.active:
        raise MeasureNotAssigned(
            f"instrument: {new.instrument} is not assigned to you", field="instrument"
        )
    if await repository.answered_in_session(db, session_id, new.instrument):
        raise MeasureNotDue(f"{new.instrument} was answered in this session already")
    inst = rules.instrument(new.instrument)
    try:
        scored = rules.score(inst, new.answers)
    except (rules.InvalidAnswer, rules.IncompleteResponse) as exc:
        raise UnscorableResponse(f"answers: {exc}", field="answers") from None
    response = MeasureResponse(
        assignment_id=assignment.id,
        clinician_id=clinician_id,
        client_id=client_id,
        session_id=session_id,
        instrument=inst.code,
        instrument_version=inst.version,
        phase=new.phase,
        answers=list(rules.answers_in_order(inst, new.answers)),
        answered=scored.answered,
        total=scored.total,
        band=scored.band,
        prorated=scored.prorated,
        subscales=dict(scored.subscales),
        sessions_held=await repository.sessions_held(db, clinician_id, client_id),
    )
    repository.add(db, response)
    # The response row must exist before a flag points at it.
    await db.flush()
    add_event(
        db,
        MeasureCompleted(
            response_id=response.id,
            client_id=client_id,
            clinician_id=clinician_id,
            session_id=session_id,
            instrument=inst.code,
            total=scored.total,
            band=scored.band,
            completed_at=response.completed_at,
        ),
        source=SOURCE,
    )
    await audit.record(db, principal, "create", "measure_response", [response.id])
    flag = await safety.raise_for_response(db, principal, response, scored.risk_item, flag_deadline)
    return _response_view(response, with_answers=True, flagged=flag is not None)


async def _readable_responses(
    db: AsyncSession, principal: Principal, client_id: uuid.UUID
) -> Sequence[MeasureResponse]:
    if principal.role == "clinician":
        responses = await repository.list_responses(db, client_id, [principal.user_id])
        if not responses and not await records.get_active_relationship(
            db, principal.user_id, client_id
        ):
            raise NotYourRecord("only the client and their clinician see their measures")
        return responses
    if principal.user_id == client_id:
        return await repository.list_responses(db, client_id)
    raise NotYourRecord("only the client and their clinician see their measures")


async def list_responses(
    db: AsyncSession, principal: Principal, client_id: uuid.UUID
) -> list[ResponseView]:
    """A client's responses with their answers, oldest first, for the pair."""
    responses = await _readable_responses(db, principal, client_id)
    await audit.record(db, principal, "read", "measure_response", [r.id for r in responses])
    return [_response_view(r, with_answers=True) for r in responses]


def _point(response: MeasureResponse) -> TrendPoint:
    return TrendPoint(
        response_id=response.id,
        session_id=response.session_id,
        total=response.total,
        band=response.band,
        completed_at=response.completed_at,
    )


def _trends(responses: Sequence[MeasureResponse]) -> list[InstrumentTrend]:
    trends = []
    for code in rules.INSTRUMENTS:
        mine = [r for r in responses if r.instrument == code]
        if not mine:
            continue
        inst = rules.instrument(code)
        trends.append(
            InstrumentTrend(
                instrument=code,
                bands=_bands(inst),
                caseness=inst.caseness,
                points=[_point(r) for r in mine],
                change=rules.reliable_change(inst, mine[0].total, mine[-1].total),
                first_total=mine[0].total,
                latest_total=mine[-1].total,
            )
        )
    return trends


def _outcome(trends: Sequence[InstrumentTrend]) -> rules.Outcome | None:
    pairs = {
        t.instrument: (t.first_total, t.latest_total)
        for t in trends
        if rules.instrument(t.instrument).caseness is not None
    }
    return rules.outcome(pairs) if pairs else None


async def summary(db: AsyncSession, principal: Principal, client_id: uuid.UUID) -> MeasuresSummary:
    """Trends per instrument with the bands to draw, and the course's outcome so far."""
    responses = await _readable_responses(db, principal, client_id)
    await audit.record(db, principal, "read", "measure_response", [r.id for r in responses])
    trends = _trends(responses)
    outcome = _outcome(trends)
    return MeasuresSummary(
        client_id=client_id,
        trends=trends,
        change=outcome.change if outcome else None,
        case_at_start=bool(outcome and outcome.case_at_start),
        recovered=bool(outcome and outcome.recovered),
        reliably_recovered=bool(outcome and outcome.reliably_recovered),
    )


async def caseload(db: AsyncSession, principal: Principal, review_session: int) -> Caseload:
    """The calling clinician's clients with measures or open flags: off track, recovered,
    flagged."""
    principal.require_role("clinician")
    clinician_id = principal.user_id
    responses = await repository.responses_of_clinician(db, clinician_id)
    flags = await safety.unresolved_counts(db, clinician_id)
    held = await repository.sessions_held_by_client(db, clinician_id)
    by_client: dict[uuid.UUID, list[MeasureResponse]] = {}
    for response in responses:
        by_client.setdefault(response.client_id, []).append(response)
    entries = []
    for client_id in sorted(set(by_client) | set(flags), key=str):
        trends = _trends(by_client.get(client_id, []))
        outcome = _outcome(trends)
        sessions = held.get(client_id, 0)
        entries.append(
            CaseloadEntry(
                client_id=client_id,
                sessions_held=sessions,
                latest={t.instrument: t.points[-1] for t in trends},
                change=outcome.change if outcome else None,
                recovered=bool(outcome and outcome.recovered),
                off_track=bool(
                    outcome and rules.off_track(outcome.change, sessions, review_session)
                ),
                open_safety_flags=flags.get(client_id, 0),
            )
        )
    await audit.record(db, principal, "read", "caseload", [clinician_id])
    return Caseload(clinician_id=clinician_id, review_session=review_session, clients=entries)
