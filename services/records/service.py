"""The records use cases: booking, goals, session records, and the rules on who sees what.

Every function works inside the caller's unit of work (``db``) and never commits: the HTTP
request or the consumed event batch does, so a change, its audit entries and its outbox
events land together. ``db`` is the database session; "session" always means a therapy
session here.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Literal

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import repository
from services.records.errors import (
    AppointmentOverlaps,
    GoalNotFound,
    NotYourRecord,
    SessionRecordNotFound,
    UnknownClient,
    UnknownSession,
)
from services.records.models import (
    Appointment,
    AuditEntry,
    Goal,
    GoalUpdate,
    KnownUser,
    SessionAttendance,
    SessionRecord,
)
from services.records.schemas import (
    AppointmentView,
    AttendeeView,
    GoalUpdateView,
    GoalView,
    NewAppointment,
    NewGoal,
    NewGoalUpdate,
    SessionRecordView,
)
from shared.db import utc_now
from shared.errors import Forbidden
from shared.events.catalog import (
    AppointmentScheduled,
    CallConnected,
    GoalUpdated,
    ParticipantAdmitted,
    ParticipantCheckedIn,
    ParticipantJoined,
    ParticipantLeft,
    SessionCompleted,
    SessionEnded,
    UserRegistered,
)
from shared.events.outbox import add_event
from shared.tokens import Principal

log = logging.getLogger(__name__)

SOURCE = "/rapport/records"

PartyRole = Literal["clinician", "client"]
Outcome = Literal["completed", "no-show", "interrupted"]


# Access rules: the one place that decides who may read or change what.


def _party_role(principal: Principal, clinician_id: uuid.UUID, client_id: uuid.UUID) -> PartyRole:
    """The part the caller plays in a clinician-client pair, or :class:`NotYourRecord`."""
    caller = principal.user_id
    if caller == clinician_id:
        return "clinician"
    if caller == client_id:
        return "client"
    raise NotYourRecord("only this record's clinician and client may use it")


def _goal_update_view(
    update: GoalUpdate, reader_role: PartyRole, reader_id: uuid.UUID
) -> GoalUpdateView:
    view = GoalUpdateView.model_validate(update)
    # The clinician sees every note on their client's goals; a client sees the notes they
    # wrote, never the clinician's (those stay private until shared notes exist).
    if reader_role == "clinician" or update.author_id == reader_id:
        return view
    return view.model_copy(update={"note": None})


async def _require_client(db: AsyncSession, client_id: uuid.UUID) -> None:
    user = await repository.get_known_user(db, client_id)
    if user is None or user.role != "client":
        raise UnknownClient(f"unknown client {client_id}: no registered client has this id")


# Audit log


def _audit(
    db: AsyncSession,
    principal: Principal | None,
    action: str,
    resource_type: str,
    resource_ids: Iterable[uuid.UUID],
) -> None:
    """Append one audit entry per resource; ``principal`` None means records itself acted."""
    at = utc_now()
    actor_id = principal.user_id if principal is not None else None
    actor_role = principal.role if principal is not None else "system"
    repository.add(
        db,
        *(
            AuditEntry(
                at=at,
                actor_id=actor_id,
                actor_role=actor_role,
                action=action,
                resource_type=resource_type,
                resource_id=str(resource_id),
            )
            for resource_id in resource_ids
        ),
    )


# Appointments


async def book_appointment(
    db: AsyncSession, principal: Principal, booking: NewAppointment
) -> AppointmentView:
    """Book an appointment for the calling clinician, with its session record, and announce it."""
    principal.require_role("clinician")
    clinician_id = principal.user_id
    await _require_client(db, booking.client_id)
    await repository.lock_clinician_schedule(db, clinician_id)
    if await repository.has_overlapping_appointment(
        db, clinician_id, booking.starts_at, booking.ends_at
    ):
        raise AppointmentOverlaps(
            f"you already have an appointment between {booking.starts_at.isoformat()} "
            f"and {booking.ends_at.isoformat()}"
        )
    appointment = Appointment(
        session_id=uuid.uuid4(),
        clinician_id=clinician_id,
        client_id=booking.client_id,
        starts_at=booking.starts_at.astimezone(UTC),
        ends_at=booking.ends_at.astimezone(UTC),
    )
    record = SessionRecord(
        session_id=appointment.session_id,
        appointment_id=appointment.id,
        clinician_id=clinician_id,
        client_id=booking.client_id,
    )
    repository.add(db, appointment, record)
    add_event(
        db,
        AppointmentScheduled(
            appointment_id=appointment.id,
            session_id=appointment.session_id,
            clinician_id=clinician_id,
            client_id=appointment.client_id,
            starts_at=appointment.starts_at,
            ends_at=appointment.ends_at,
            status=appointment.status,
        ),
        source=SOURCE,
    )
    _audit(db, principal, "create", "appointment", [appointment.id])
    _audit(db, principal, "create", "session_record", [record.session_id])
    return AppointmentView.model_validate(appointment)


async def list_appointments(db: AsyncSession, principal: Principal) -> list[AppointmentView]:
    """The caller's appointments, as clinician or as client."""
    appointments = await repository.list_appointments_of(db, principal.user_id)
    _audit(db, principal, "read", "appointment", (a.id for a in appointments))
    return [AppointmentView.model_validate(a) for a in appointments]


# Goals


async def set_goal(db: AsyncSession, principal: Principal, new_goal: NewGoal) -> GoalView:
    """The calling clinician sets a goal with a client; it starts active."""
    principal.require_role("clinician")
    await _require_client(db, new_goal.client_id)
    goal = Goal(
        clinician_id=principal.user_id, client_id=new_goal.client_id, statement=new_goal.statement
    )
    repository.add(db, goal)
    _audit(db, principal, "create", "goal", [goal.id])
    return GoalView.model_validate(goal)


async def list_goals(
    db: AsyncSession, principal: Principal, client_id: uuid.UUID | None
) -> list[GoalView]:
    """A clinician's own goals (optionally for one client), or a client's own goals."""
    caller = principal.user_id
    if principal.role == "clinician":
        goals = await repository.list_goals(db, clinician_id=caller, client_id=client_id)
    elif principal.role == "client":
        if client_id is not None and client_id != caller:
            raise Forbidden("clients see only their own goals")
        goals = await repository.list_goals(db, client_id=caller)
    else:
        raise Forbidden("requires role clinician or client")
    _audit(db, principal, "read", "goal", (g.id for g in goals))
    return [GoalView.model_validate(g) for g in goals]


async def record_goal_update(
    db: AsyncSession, principal: Principal, goal_id: uuid.UUID, new_update: NewGoalUpdate
) -> GoalUpdateView:
    """The goal's clinician or client reports progress, maybe tied to one of their sessions."""
    goal = await repository.get_goal(db, goal_id)
    if goal is None:
        raise GoalNotFound(f"no goal {goal_id}")
    author_role = _party_role(principal, goal.clinician_id, goal.client_id)
    if new_update.session_id is not None:
        record = await repository.get_session_record(db, new_update.session_id)
        # The same answer for "no such session" and "someone else's session": no oracle.
        if record is None or (record.clinician_id, record.client_id) != (
            goal.clinician_id,
            goal.client_id,
        ):
            raise UnknownSession(
                f"session {new_update.session_id} is not a session of this goal's "
                "clinician and client"
            )
    update = GoalUpdate(
        goal_id=goal.id,
        session_id=new_update.session_id,
        author_id=principal.user_id,
        author_role=author_role,
        progress=new_update.progress,
        note=new_update.note,
    )
    repository.add(db, update)
    add_event(
        db,
        GoalUpdated(
            goal_update_id=update.id,
            goal_id=goal.id,
            session_id=update.session_id,
            clinician_id=goal.clinician_id,
            client_id=goal.client_id,
            author_role=author_role,
            progress=update.progress,
            recorded_at=update.recorded_at,
        ),
        source=SOURCE,
    )
    _audit(db, principal, "create", "goal_update", [update.id])
    return GoalUpdateView.model_validate(update)


# Session records: read


async def read_session_record(
    db: AsyncSession, principal: Principal, session_id: uuid.UUID
) -> SessionRecordView:
    """The session record for its clinician or client, with the notes this reader may see."""
    record = await repository.get_session_record(db, session_id)
    if record is None:
        raise SessionRecordNotFound(f"no session {session_id}")
    reader_role = _party_role(principal, record.clinician_id, record.client_id)
    attendance = await repository.list_attendance(db, session_id)
    updates = await repository.list_goal_updates_in_session(db, session_id)
    _audit(db, principal, "read", "session_record", [session_id])
    _audit(db, principal, "read", "goal_update", (u.id for u in updates))
    reader = principal.user_id
    return SessionRecordView.model_validate(
        {
            **record.model_dump(),
            "attendees": [AttendeeView.model_validate(a) for a in attendance],
            "goal_updates": [_goal_update_view(u, reader_role, reader) for u in updates],
        }
    )


# The user projection


async def register_user(db: AsyncSession, event: UserRegistered) -> None:
    """Keep records' copy of a registered user (id and role only)."""
    user = await repository.get_known_user(db, event.user_id)
    if user is None:
        repository.add(
            db,
            KnownUser(
                user_id=event.user_id, role=event.role, registered_at=_utc(event.registered_at)
            ),
        )
    else:
        user.role = event.role
        user.registered_at = _utc(event.registered_at)


# Session records: built from what signaling reports. Every rule below is a min or a max
# (or derived from them), so duplicated or reordered events leave the same record.


def _utc(at: datetime) -> datetime:
    # The catalog's datetimes accept naive values; producers send UTC, so read them as UTC.
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _earliest(current: datetime | None, candidate: datetime) -> datetime:
    candidate = _utc(candidate)
    return candidate if current is None or candidate < current else current


def _latest(current: datetime | None, candidate: datetime) -> datetime:
    candidate = _utc(candidate)
    return candidate if current is None or candidate > current else current


async def _record_for_event(
    db: AsyncSession, session_id: uuid.UUID, event_type: str
) -> SessionRecord | None:
    record = await repository.get_session_record(db, session_id)
    if record is None:
        # Records creates every session record at booking, before signaling can know the
        # session; an unknown id is an anomaly to look into, not something to retry.
        log.warning(
            "ignoring %s for unknown session %s",
            event_type,
            session_id,
            extra={"session_id": str(session_id), "event_type": event_type},
        )
    return record


async def _attendance(
    db: AsyncSession, record: SessionRecord, user_id: uuid.UUID, role: str
) -> SessionAttendance:
    attendance = await repository.get_attendance(db, record.session_id, user_id)
    if attendance is None:
        attendance = SessionAttendance(session_id=record.session_id, user_id=user_id, role=role)
        repository.add(db, attendance)
    return attendance


async def note_check_in(db: AsyncSession, event: ParticipantCheckedIn) -> None:
    """Someone entered the waiting room: keep the earliest check-in."""
    record = await _record_for_event(db, event.session_id, event.type)
    if record is not None:
        record.checked_in_at = _earliest(record.checked_in_at, event.at)
        await _settle(db, record)


async def note_admission(db: AsyncSession, event: ParticipantAdmitted) -> None:
    """The clinician admitted someone: keep the earliest admission."""
    record = await _record_for_event(db, event.session_id, event.type)
    if record is not None:
        record.admitted_at = _earliest(record.admitted_at, event.at)
        await _settle(db, record)


async def note_join(db: AsyncSession, event: ParticipantJoined) -> None:
    """Someone joined the call: keep their first join."""
    record = await _record_for_event(db, event.session_id, event.type)
    if record is not None:
        attendance = await _attendance(db, record, event.user_id, event.role)
        attendance.joined_at = _earliest(attendance.joined_at, event.at)
        await _settle(db, record)


async def note_leave(db: AsyncSession, event: ParticipantLeft) -> None:
    """Someone left the call: keep their last leave."""
    record = await _record_for_event(db, event.session_id, event.type)
    if record is not None:
        attendance = await _attendance(db, record, event.user_id, event.role)
        attendance.left_at = _latest(attendance.left_at, event.at)
        await _settle(db, record)


async def note_call_connected(db: AsyncSession, event: CallConnected) -> None:
    """The peers connected: keep the earliest connection."""
    record = await _record_for_event(db, event.session_id, event.type)
    if record is not None:
        record.connected_at = _earliest(record.connected_at, event.at)
        await _settle(db, record)


async def close_session(db: AsyncSession, event: SessionEnded) -> None:
    """The session ended: complete the record and announce it, once."""
    record = await _record_for_event(db, event.session_id, event.type)
    if record is not None:
        record.ended_at = _earliest(record.ended_at, event.at)
        await _settle(db, record)


def _outcome(record: SessionRecord, attended: set[uuid.UUID]) -> Outcome:
    if record.client_id not in attended:
        return "no-show"
    if record.clinician_id in attended:
        return "completed"
    return "interrupted"


async def _settle(db: AsyncSession, record: SessionRecord) -> None:
    """Derive status, duration and outcome from what is known, and announce completion once.

    Recomputed on every event, so an event that arrives after the end still corrects the
    record; ``SessionCompleted`` goes out the first time the end is known, never again.
    """
    attendance: Sequence[SessionAttendance] = await repository.list_attendance(
        db, record.session_id
    )
    joins = {a.user_id: a.joined_at for a in attendance if a.joined_at is not None}
    record.updated_at = utc_now()
    _audit(db, None, "update", "session_record", [record.session_id])
    if record.ended_at is None:
        record.status = "in-progress" if joins or record.connected_at else "scheduled"
        return
    record.status = "completed"
    started_at = record.connected_at or min(joins.values(), default=None)
    elapsed = (record.ended_at - started_at).total_seconds() if started_at else 0
    record.duration_seconds = max(0, int(elapsed))
    outcome = _outcome(record, set(joins))
    record.outcome = outcome
    if record.completion_announced_at is not None:
        return
    record.completion_announced_at = utc_now()
    add_event(
        db,
        SessionCompleted(
            session_id=record.session_id,
            appointment_id=record.appointment_id,
            clinician_id=record.clinician_id,
            client_id=record.client_id,
            outcome=outcome,
            started_at=started_at,
            ended_at=record.ended_at,
            duration_seconds=record.duration_seconds,
            attended_by=sorted(joins),
            goal_update_count=await repository.count_goal_updates_in_session(db, record.session_id),
        ),
        source=SOURCE,
    )
