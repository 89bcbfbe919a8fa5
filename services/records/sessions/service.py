"""Session records, built from what signaling reports and read by the parties; the progress
across a client's sessions, for charts."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import access, audit, goals, location, scheduling
from services.records import repository as records
from services.records.access import (
    SOURCE,
    actor_uuid,
    goal_update_view,
    is_partner,
    partner_clinicians,
)
from services.records.errors import (
    SessionRecordNotFound,
)
from services.records.models import (
    CallQualitySample,
    CheckIn,
    GoalUpdate,
    KnownUser,
    SessionAttendance,
    SessionGuest,
    SessionRecord,
)
from services.records.sessions import repository, rules
from services.records.sessions.billing import Attendee, BillingTable
from services.records.sessions.rules import Outcome, earliest, latest, outcome, utc
from services.records.sessions.schemas import (
    AttendeeView,
    PartyProgress,
    ProgressPage,
    SessionBilling,
    SessionProgress,
    SessionRecordView,
)
from shared.db import utc_now
from shared.errors import Forbidden
from shared.events.catalog import (
    BillingAttendee,
    CallConnected,
    CallQuality,
    CallQualitySummary,
    GoalProgressShared,
    ParticipantAdmitted,
    ParticipantCheckedIn,
    ParticipantJoined,
    ParticipantLeft,
    SessionBillingReady,
    SessionCompleted,
    SessionEnded,
    SessionGuestInvited,
    SessionGuestRevoked,
    UserRegistered,
)
from shared.events.outbox import add_event
from shared.scopes import PartnerScope
from shared.tokens import Principal

log = logging.getLogger(__name__)

# Session records: read


async def read_session_record(
    db: AsyncSession, principal: Principal, session_id: uuid.UUID
) -> SessionRecordView:
    """The session record for its clinician or client, with the notes this reader may see."""
    record = await records.get_session_record(db, session_id)
    if record is None:
        raise SessionRecordNotFound(f"no session {session_id}")
    reader_role = await access.reader_role(
        db,
        principal,
        record.clinician_id,
        record.client_id,
        "session_record",
        session_id,
        partner_scope=PartnerScope.SESSIONS_READ,
    )
    attendance = await repository.list_attendance(db, session_id)
    relationships = await repository.guest_relationships(db, session_id)
    updates = await repository.list_goal_updates_in_session(db, session_id)
    if reader_role == "partner" and PartnerScope.GOALS_READ not in principal.scopes:
        # sessions:read covers the session itself; goal ratings are goals:read's to grant.
        updates = []
    await audit.record(db, principal, "read", "session_record", [session_id])
    await audit.record(db, principal, "read", "goal_update", (u.id for u in updates))
    reader = actor_uuid(principal)
    return SessionRecordView.model_validate(
        {
            **record.model_dump(),
            "attendees": [
                AttendeeView.model_validate(
                    {**a.model_dump(), "relationship": relationships.get(a.user_id)}
                )
                for a in attendance
            ],
            "goal_updates": [goal_update_view(u, reader_role, reader) for u in updates],
            "quality": await _quality_summary(db, session_id),
        }
    )


async def _quality_summary(db: AsyncSession, session_id: uuid.UUID) -> CallQualitySummary | None:
    samples = await repository.list_quality_samples(db, session_id)
    if not samples:
        return None
    return rules.summarize(
        [rules.Sample(s.round_trip_ms, s.packet_loss, s.jitter_ms, s.bitrate_kbps) for s in samples]
    )


async def note_call_quality(db: AsyncSession, event: CallQuality) -> None:
    """Keep a participant's quality sample, once; the summary is derived from all of them."""
    record = await _record_for_event(db, event.session_id, event.type)
    if record is None:
        return
    at = utc(event.at)
    if await repository.get_quality_sample(db, record.session_id, event.user_id, at) is not None:
        return
    records.add(
        db,
        CallQualitySample(
            session_id=record.session_id,
            user_id=event.user_id,
            at=at,
            role=event.role,
            round_trip_ms=event.round_trip_ms,
            packet_loss=event.packet_loss,
            jitter_ms=event.jitter_ms,
            bitrate_kbps=event.bitrate_kbps,
            video_frames_decoded=event.video_frames_decoded,
        ),
    )
    # Visible to the next read in this unit of work (a batch may hold the same sample twice).
    await db.flush()


# Goal progress shared during a call (signaling)


async def record_shared_progress(db: AsyncSession, event: GoalProgressShared) -> None:
    """The clinician pushed progress on a goal in the call: store it as their goal update
    of that session, once (the event's ``goal_update_id`` is the update's id)."""
    if await records.get_goal_update(db, event.goal_update_id) is not None:
        return
    goal = await records.get_goal(db, event.goal_id)
    record = await records.get_session_record(db, event.session_id)
    pair = (event.clinician_id, event.client_id)
    if (
        goal is None
        or record is None
        or (goal.clinician_id, goal.client_id) != pair
        or (record.clinician_id, record.client_id) != pair
        or goal.status not in ("active", "on-hold")
    ):
        # Signaling checked the caller, not the goal: an unknown or foreign goal is an
        # anomaly to look into, and retrying would never make it apply.
        log.warning(
            "ignoring shared progress on goal %s in session %s",
            event.goal_id,
            event.session_id,
            extra={"session_id": str(event.session_id), "event_type": event.type},
        )
        return
    update = GoalUpdate(
        id=event.goal_update_id,
        goal_id=goal.id,
        session_id=event.session_id,
        author_id=event.clinician_id,
        author_role="clinician",
        progress=event.progress,
        note="",
        recorded_at=utc(event.at),
    )
    goals.add_goal_update(db, goal, update)
    await audit.record(db, None, "create", "goal_update", [update.id])


# The user projection: who may be a session's party (and a care relationship's).


async def register_user(db: AsyncSession, event: UserRegistered) -> None:
    """Keep records' copy of a registered user (id and role only)."""
    user = await records.get_known_user(db, event.user_id)
    if user is None:
        records.add(
            db,
            KnownUser(
                user_id=event.user_id, role=event.role, registered_at=utc(event.registered_at)
            ),
        )
    else:
        user.role = event.role
        user.registered_at = utc(event.registered_at)


# Session records: built from what signaling reports, by the rules in ``rules`` (each a min
# or a max), so duplicated or reordered events leave the same record.


async def note_guest_invited(db: AsyncSession, event: SessionGuestInvited) -> None:
    """Keep who a guest is to the session (for its attendance), if the session's own
    clinician invited them; identity vouches only for who asked."""
    record = await _record_for_event(db, event.session_id, event.type)
    if record is None:
        return
    if record.clinician_id != event.clinician_id:
        log.warning(
            "ignoring a guest invited by another clinician",
            extra={"session_id": str(event.session_id), "guest_id": str(event.guest_id)},
        )
        return
    if await repository.get_guest(db, record.session_id, event.guest_id) is None:
        records.add(
            db,
            SessionGuest(
                session_id=record.session_id,
                guest_id=event.guest_id,
                relationship=event.relationship,
                invited_at=utc(event.invited_at),
            ),
        )


async def note_guest_revoked(db: AsyncSession, event: SessionGuestRevoked) -> None:
    """Mark a guest revoked (their attendance so far stays on the record)."""
    guest = await repository.get_guest(db, event.session_id, event.guest_id)
    if guest is not None and guest.revoked_at is None:
        guest.revoked_at = utc(event.revoked_at)
        records.add(db, guest)


async def _record_for_event(
    db: AsyncSession, session_id: uuid.UUID, event_type: str
) -> SessionRecord | None:
    record = await records.get_session_record(db, session_id)
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
        records.add(db, attendance)
    return attendance


async def note_check_in(
    db: AsyncSession, event: ParticipantCheckedIn, *, billing: BillingTable
) -> None:
    """Someone entered the waiting room: keep the earliest check-in."""
    record = await _record_for_event(db, event.session_id, event.type)
    if record is not None:
        record.checked_in_at = earliest(record.checked_in_at, event.at)
        if event.role == "client":
            await scheduling.note_client_checked_in(db, record.appointment_id)
        await _settle(db, record, billing)


async def note_admission(
    db: AsyncSession, event: ParticipantAdmitted, *, billing: BillingTable
) -> None:
    """The clinician admitted someone: keep the earliest admission."""
    record = await _record_for_event(db, event.session_id, event.type)
    if record is not None:
        record.admitted_at = earliest(record.admitted_at, event.at)
        await _settle(db, record, billing)


async def note_join(db: AsyncSession, event: ParticipantJoined, *, billing: BillingTable) -> None:
    """Someone joined the call: keep their first join."""
    record = await _record_for_event(db, event.session_id, event.type)
    if record is not None:
        attendance = await _attendance(db, record, event.user_id, event.role)
        attendance.joined_at = earliest(attendance.joined_at, event.at)
        await _settle(db, record, billing)


async def note_leave(db: AsyncSession, event: ParticipantLeft, *, billing: BillingTable) -> None:
    """Someone left the call: keep their last leave."""
    record = await _record_for_event(db, event.session_id, event.type)
    if record is not None:
        attendance = await _attendance(db, record, event.user_id, event.role)
        attendance.left_at = latest(attendance.left_at, event.at)
        await _settle(db, record, billing)


async def note_call_connected(
    db: AsyncSession, event: CallConnected, *, billing: BillingTable
) -> None:
    """The peers connected: keep the earliest connection."""
    record = await _record_for_event(db, event.session_id, event.type)
    if record is not None:
        record.connected_at = earliest(record.connected_at, event.at)
        await _settle(db, record, billing)


async def close_session(db: AsyncSession, event: SessionEnded, *, billing: BillingTable) -> None:
    """The session ended: complete the record and announce it, once."""
    record = await _record_for_event(db, event.session_id, event.type)
    if record is not None:
        record.ended_at = earliest(record.ended_at, event.at)
        await _settle(db, record, billing)


async def _settle(db: AsyncSession, record: SessionRecord, billing: BillingTable) -> None:
    """Derive status, duration and outcome from what is known, and announce completion once.

    Recomputed on every event, so an event that arrives after the end still corrects the
    record. ``SessionCompleted`` goes out once: at once when both parties joined and the call
    connected (the outcome can no longer change, nor, in practice, the duration); otherwise
    (a no-show, an interrupted session, or the end arriving before the rest) only when no
    event has changed the record for a settling time (:func:`announce_settled_sessions`), so
    events that arrive after the end still count.
    """
    joins = await _derive(db, record)
    record.updated_at = utc_now()
    await audit.record(db, None, "update", "session_record", [record.session_id])
    if record.billing is not None:
        # Billed already: an event arriving late still corrects the record's codes (the
        # event went out once, with what was known when the completion was announced).
        await _bill(db, record, billing)
    if record.outcome == "completed" and record.connected_at is not None:
        await _announce(db, record, joins, billing)


async def _derive(db: AsyncSession, record: SessionRecord) -> dict[uuid.UUID, datetime]:
    """Status, duration and outcome from what is known; returns who joined and when."""
    attendance = await repository.list_attendance(db, record.session_id)
    joins = {a.user_id: a.joined_at for a in attendance if a.joined_at is not None}
    if record.ended_at is None:
        record.status = "in-progress" if joins or record.connected_at else "scheduled"
        return joins
    record.status = "completed"
    started_at = record.connected_at or min(joins.values(), default=None)
    elapsed = (record.ended_at - started_at).total_seconds() if started_at else 0
    record.duration_seconds = max(0, int(elapsed))
    record.outcome = outcome(record.clinician_id, record.client_id, set(joins))
    return joins


async def _announce(
    db: AsyncSession,
    record: SessionRecord,
    joins: dict[uuid.UUID, datetime],
    billing: BillingTable,
) -> None:
    """Close the appointment (fulfilled or no-show) and publish ``SessionCompleted``, once;
    a completed session's ``SessionBillingReady`` with it."""
    if record.completion_announced_at is not None or record.ended_at is None:
        return
    announced_at = utc_now()
    if not await repository.claim_announcement(db, record.session_id, announced_at):
        return
    ended_as: Outcome = record.outcome  # type: ignore[assignment]
    await scheduling.close_appointment(db, record.appointment_id, no_show=ended_as == "no-show")
    record.completion_announced_at = announced_at
    add_event(
        db,
        SessionCompleted(
            session_id=record.session_id,
            appointment_id=record.appointment_id,
            clinician_id=record.clinician_id,
            client_id=record.client_id,
            outcome=ended_as,
            started_at=record.connected_at or min(joins.values(), default=None),
            ended_at=record.ended_at,
            duration_seconds=record.duration_seconds or 0,
            attended_by=sorted(joins),
            goal_update_count=await repository.count_goal_updates_in_session(db, record.session_id),
            quality=await _quality_summary(db, record.session_id),
        ),
        source=SOURCE,
    )
    if ended_as == "completed":
        add_event(db, await _bill(db, record, billing), source=SOURCE)


async def announce_settled_sessions(
    db: AsyncSession, now: datetime, settle: timedelta, billing: BillingTable
) -> int:
    """Announce the ended sessions whose records nothing has changed for ``settle``.

    These are the no-shows, interrupted sessions and calls that never connected (a completed,
    connected one is announced at once). Returns how many were announced.
    """
    ended = await repository.unannounced_ended_sessions(db, now - settle)
    for record in ended:
        joins = await _derive(db, record)
        await _announce(db, record, joins, billing)
    return len(ended)


async def _bill(
    db: AsyncSession, record: SessionRecord, billing: BillingTable
) -> SessionBillingReady:
    """The completed session's codes by the billing table, from its connected time, who
    attended, whether the client said they were at home and what video arrived; kept on the
    record too."""
    attendance = await repository.list_attendance(db, record.session_id)
    samples = await repository.list_quality_samples(db, record.session_id)
    started_at = record.connected_at or min(
        (a.joined_at for a in attendance if a.joined_at is not None), default=None
    )
    codes = billing.derive(
        connected_seconds=record.duration_seconds or 0,
        attendees=[Attendee(a.user_id, a.role) for a in attendance if a.joined_at is not None],
        at_home=await location.stated_at_home(db, record.session_id),
        video_frames_decoded=[s.video_frames_decoded for s in samples],
    )
    assert record.ended_at is not None
    billed = SessionBillingReady(
        session_id=record.session_id,
        appointment_id=record.appointment_id,
        clinician_id=record.clinician_id,
        client_id=record.client_id,
        started_at=started_at,
        ended_at=record.ended_at,
        connected_seconds=codes.connected_seconds,
        cpt_code=codes.cpt_code,
        group=codes.group,
        place_of_service=codes.place_of_service,
        audio_only=codes.audio_only,
        attendees=[BillingAttendee(user_id=a.user_id, role=a.role) for a in codes.attendees],
    )
    record.billing = SessionBilling.model_validate(billed.data()).model_dump(mode="json")
    return billed


# Progress data for charts


async def client_progress(
    db: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    *,
    goal_id: uuid.UUID | None,
    starts_from: datetime | None,
    starts_before: datetime | None,
    offset: int,
    limit: int,
) -> ProgressPage:
    """Per session: each goal's progress from both sides, the check-in totals and flags.

    A clinician sees their sessions with the client; a client sees all of their own; a
    partner app with ``goals:read`` the sessions with the clinicians who granted it access,
    with the goal ratings only: no check-in totals or flags, which no scope grants.
    Corrected (entered-in-error) updates are left out; the latest standing rating counts.
    """
    clinician_ids: frozenset[uuid.UUID] | None
    if principal.role == "clinician":
        clinician_ids = frozenset({principal.user_id})
    elif principal.role == "client" and principal.user_id == client_id:
        clinician_ids = None
    elif is_partner(principal):
        clinician_ids = await partner_clinicians(db, principal, PartnerScope.GOALS_READ)
    else:
        raise Forbidden("a client's progress is for the client and their clinicians")
    rows = await repository.sessions_of_client(
        db, client_id, clinician_ids, starts_from, starts_before, offset, limit + 1
    )
    page, more = rows[:limit], len(rows) > limit
    session_ids = [record.session_id for record, _ in page]
    updates = await repository.goal_updates_in_sessions(db, session_ids)
    check_ins = (
        [] if is_partner(principal) else await repository.check_ins_in_sessions(db, session_ids)
    )
    ratings: dict[uuid.UUID, dict[uuid.UUID, dict[str, int]]] = {}
    for update in updates:
        if goal_id is not None and update.goal_id != goal_id:
            continue
        assert update.session_id is not None
        by_goal = ratings.setdefault(update.session_id, {})
        by_goal.setdefault(update.goal_id, {})[update.author_role] = update.progress
    totals: dict[uuid.UUID, dict[str, CheckIn]] = {}
    for check_in in check_ins:
        totals.setdefault(check_in.session_id, {})[check_in.kind] = check_in
    items = []
    for record, appointment in page:
        taken = totals.get(record.session_id, {})
        goals = ratings.get(record.session_id, {})
        items.append(
            SessionProgress(
                session_id=record.session_id,
                starts_at=appointment.starts_at,
                status=record.status,
                goals=[
                    PartyProgress(goal_id=g, clinician=r.get("clinician"), client=r.get("client"))
                    for g, r in goals.items()
                ],
                outcome_total=taken["outcome"].total if "outcome" in taken else None,
                session_total=taken["session"].total if "session" in taken else None,
                flags=sorted({f for c in taken.values() for f in c.flags.split(",") if f}),
            )
        )
    await audit.record(db, principal, "read", "session_record", session_ids)
    # The ratings and totals shown come from these rows: their reads are audited too.
    shown = (u.id for u in updates if goal_id is None or u.goal_id == goal_id)
    await audit.record(db, principal, "read", "goal_update", shown)
    await audit.record(db, principal, "read", "check_in", (c.id for c in check_ins))
    return ProgressPage(items=items, next_offset=offset + limit if more else None)
