"""Appointments: booking, rescheduling, cancelling, no-shows, time zones."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import audit, repository
from services.records.access import (
    BOOKING_GRACE,
    OPEN_STATUSES,
    SOURCE,
    PartyRole,
    is_partner,
    partner_clinicians,
    partner_for,
    party_role,
    require_client,
    require_relationship,
)
from services.records.errors import (
    AppointmentClosed,
    AppointmentNotFound,
    AppointmentOverlaps,
    NotABookableSlot,
    UnknownParticipant,
)
from services.records.models import (
    Appointment,
    SessionRecord,
)
from services.records.partnership import start_relationship
from services.records.schemas import (
    AppointmentView,
    NewAppointment,
    NewTimes,
)
from services.records.service.scheduling import SlotRules, free_slots
from shared.db import utc_now
from shared.errors import Forbidden, InvalidRequest
from shared.events.catalog import (
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentRescheduled,
    AppointmentScheduled,
)
from shared.events.outbox import add_event
from shared.scopes import PartnerScope
from shared.tokens import Principal

# Appointments

Booker = Literal["clinician", "client", "partner"]


async def _booking_parties(
    db: AsyncSession, principal: Principal, booking: NewAppointment
) -> tuple[uuid.UUID, uuid.UUID, Booker]:
    """Whose appointment it is, and who books it.

    A clinician books their own time with a registered client (the first booking starts the
    care relationship); a client books with a clinician who cares for them; a partner app
    with ``appointments:write`` books for a client of a clinician who granted it access.
    """
    if is_partner(principal):
        await partner_clinicians(db, principal, PartnerScope.APPOINTMENTS_WRITE)
        if booking.clinician_id is None:
            raise InvalidRequest(
                "clinician_id: a partner app names the clinician", field="clinician_id"
            )
        if booking.client_id is None:
            raise InvalidRequest("client_id: a partner app names the client", field="client_id")
        await partner_for(db, principal, booking.clinician_id, PartnerScope.APPOINTMENTS_WRITE)
        await require_client(db, booking.client_id)
        await require_relationship(db, booking.clinician_id, booking.client_id, "client_id")
        return booking.clinician_id, booking.client_id, "partner"
    principal.require_role("clinician", "client")
    caller = principal.user_id
    if principal.role == "client":
        if booking.client_id not in (None, caller):
            raise Forbidden("clients book appointments for themselves")
        if booking.clinician_id is None:
            raise InvalidRequest(
                "clinician_id: a client names their clinician", field="clinician_id"
            )
        await require_relationship(db, booking.clinician_id, caller, "clinician_id")
        return booking.clinician_id, caller, "client"
    if booking.clinician_id not in (None, caller):
        raise Forbidden("clinicians book their own time")
    if booking.client_id is None:
        raise InvalidRequest("client_id: a clinician names the client", field="client_id")
    await require_client(db, booking.client_id)
    return caller, booking.client_id, "clinician"


async def _require_invitees(
    db: AsyncSession, invited: list[uuid.UUID], clinician_id: uuid.UUID, client_id: uuid.UUID
) -> None:
    for user_id in invited:
        if (
            user_id in (clinician_id, client_id)
            or await repository.get_known_user(db, user_id) is None
        ):
            raise UnknownParticipant(
                f"invited_participant_ids: {user_id} is not a registered user other than the "
                "clinician and the client",
                field="invited_participant_ids",
            )


async def _refuse_overlap(
    db: AsyncSession,
    clinician_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    *,
    excluding: uuid.UUID | None = None,
    name_it: bool,
) -> None:
    """409 naming the conflict; the conflicting appointment's id only for its clinician."""
    conflict = await repository.overlapping_appointment(
        db, clinician_id, starts_at, ends_at, excluding=excluding
    )
    if conflict is None:
        return
    extra: dict[str, Any] = {
        "conflict": {
            "starts_at": conflict.starts_at.isoformat(),
            "ends_at": conflict.ends_at.isoformat(),
            **({"appointment_id": str(conflict.id)} if name_it else {}),
        }
    }
    raise AppointmentOverlaps(
        f"starts_at: the clinician already has an appointment from "
        f"{conflict.starts_at.isoformat()} to {conflict.ends_at.isoformat()}, which overlaps "
        f"{starts_at.astimezone(UTC).isoformat()} to {ends_at.astimezone(UTC).isoformat()}",
        field="starts_at",
        **extra,
    )


async def _require_free_slot(
    db: AsyncSession,
    clinician_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    rules: SlotRules,
    excluding: uuid.UUID | None = None,
) -> None:
    """Clients and partner apps book exactly one free slot of the clinician's availability."""
    _, slots = await free_slots(
        db,
        clinician_id,
        starts_at,
        starts_at + timedelta(minutes=1),
        rules=rules,
        now=utc_now(),
        excluding=excluding,
    )
    if not any(s.starts_at == starts_at and s.ends_at == ends_at for s in slots):
        raise NotABookableSlot(
            f"starts_at: {starts_at.astimezone(UTC).isoformat()} to "
            f"{ends_at.astimezone(UTC).isoformat()} is not a free slot of the clinician "
            f"(GET /v1/clinicians/{clinician_id}/slots lists them)",
            field="starts_at",
        )


async def book_appointment(
    db: AsyncSession, principal: Principal, booking: NewAppointment, rules: SlotRules
) -> AppointmentView:
    """Book an appointment, with its session record, and announce it.

    A clinician may book any free time of theirs; a client or a partner app books a free
    slot of the clinician's availability (``list_slots``).
    """
    clinician_id, client_id, booked_by = await _booking_parties(db, principal, booking)
    _require_future(booking.starts_at)
    await _require_invitees(db, booking.invited_participant_ids, clinician_id, client_id)
    await repository.lock_clinician_schedule(db, clinician_id)
    if booked_by == "clinician":
        # The first booking with a client starts the care relationship (when no accepted
        # invitation started it already).
        relationship, created = await start_relationship(db, clinician_id, client_id, "booking")
        if created:
            await audit.record(db, principal, "create", "care_relationship", [relationship.id])
    await _refuse_overlap(
        db, clinician_id, booking.starts_at, booking.ends_at, name_it=booked_by == "clinician"
    )
    if booked_by != "clinician":
        await _require_free_slot(db, clinician_id, booking.starts_at, booking.ends_at, rules)
    appointment = Appointment(
        session_id=uuid.uuid4(),
        clinician_id=clinician_id,
        client_id=client_id,
        starts_at=booking.starts_at.astimezone(UTC),
        ends_at=booking.ends_at.astimezone(UTC),
        max_participants=booking.max_participants,
        invited_participant_ids=[str(u) for u in booking.invited_participant_ids],
        booked_by=booked_by,
    )
    record = SessionRecord(
        session_id=appointment.session_id,
        appointment_id=appointment.id,
        clinician_id=clinician_id,
        client_id=client_id,
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
            max_participants=appointment.max_participants,
            invited_participant_ids=booking.invited_participant_ids,
            booked_by=booked_by,
        ),
        source=SOURCE,
    )
    await audit.record(db, principal, "create", "appointment", [appointment.id])
    await audit.record(db, principal, "create", "session_record", [record.session_id])
    return _appointment_view(appointment)


async def list_appointments(
    db: AsyncSession, principal: Principal, time_zone: str | None = None
) -> list[AppointmentView]:
    """The caller's appointments, as clinician or as client, or a partner app's (with
    ``appointments:read``) of the clinicians who granted it access; in ``time_zone`` if
    given."""
    zone = _zone(time_zone)
    if is_partner(principal):
        clinicians = await partner_clinicians(db, principal, PartnerScope.APPOINTMENTS_READ)
        appointments = await repository.list_appointments_of_clinicians(db, clinicians)
    else:
        principal.require_role("clinician", "client")
        appointments = await repository.list_appointments_of(db, principal.user_id)
    await audit.record(db, principal, "read", "appointment", (a.id for a in appointments))
    return [_appointment_view(a, zone) for a in appointments]


def _zone(name: str | None) -> ZoneInfo | None:
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidRequest(
            f"tz: {name!r} is not an IANA time zone (e.g. Europe/Paris)", field="tz"
        ) from exc


def _appointment_view(appointment: Appointment, zone: ZoneInfo | None = None) -> AppointmentView:
    view = AppointmentView.model_validate(appointment)
    if zone is None:
        return view
    return view.model_copy(
        update={
            "starts_at": view.starts_at.astimezone(zone),
            "ends_at": view.ends_at.astimezone(zone),
        }
    )


async def _appointment_of_party(
    db: AsyncSession, principal: Principal, appointment_id: uuid.UUID
) -> tuple[Appointment, PartyRole | Literal["partner"]]:
    """The appointment and the caller's part in it: a party, or a partner app with
    ``appointments:write`` acting for its clinician."""
    appointment = await repository.get_appointment(db, appointment_id)
    if appointment is None:
        raise AppointmentNotFound(f"no appointment {appointment_id}")
    if is_partner(principal):
        await partner_for(db, principal, appointment.clinician_id, PartnerScope.APPOINTMENTS_WRITE)
        return appointment, "partner"
    return appointment, party_role(principal, appointment.clinician_id, appointment.client_id)


def _require_open(appointment: Appointment) -> None:
    if appointment.status not in OPEN_STATUSES:
        raise AppointmentClosed(
            f"appointment {appointment.id} is {appointment.status}; it can no longer change"
        )


def _change_event(appointment: Appointment) -> dict[str, Any]:
    return {
        "appointment_id": appointment.id,
        "session_id": appointment.session_id,
        "clinician_id": appointment.clinician_id,
        "client_id": appointment.client_id,
        "starts_at": appointment.starts_at,
        "ends_at": appointment.ends_at,
        "status": appointment.status,
        "at": utc_now(),
    }


async def reschedule_appointment(
    db: AsyncSession,
    principal: Principal,
    appointment_id: uuid.UUID,
    times: NewTimes,
    rules: SlotRules,
) -> AppointmentView:
    """Either party (or a partner app with ``appointments:write``) moves a booked appointment
    to a free, future time; the session stays. The clinician may pick any free time; the
    client and a partner app a free slot."""
    appointment, role = await _appointment_of_party(db, principal, appointment_id)
    _require_open(appointment)
    if appointment.status != "booked":
        raise AppointmentClosed(f"appointment {appointment.id} has already begun")
    _require_future(times.starts_at)
    invited = (
        times.invited_participant_ids
        if times.invited_participant_ids is not None
        else [uuid.UUID(u) for u in appointment.invited_participant_ids]
    )
    max_participants = times.max_participants or appointment.max_participants
    if len(invited) > max_participants - 2:
        raise InvalidRequest(
            f"max_participants: {max_participants} leaves no room for {len(invited)} invited",
            field="max_participants",
        )
    await _require_invitees(db, invited, appointment.clinician_id, appointment.client_id)
    await repository.lock_clinician_schedule(db, appointment.clinician_id)
    await _refuse_overlap(
        db,
        appointment.clinician_id,
        times.starts_at,
        times.ends_at,
        excluding=appointment.id,
        name_it=role == "clinician",
    )
    if role != "clinician":
        await _require_free_slot(
            db,
            appointment.clinician_id,
            times.starts_at,
            times.ends_at,
            rules,
            excluding=appointment.id,
        )
    appointment.starts_at = times.starts_at.astimezone(UTC)
    appointment.ends_at = times.ends_at.astimezone(UTC)
    appointment.max_participants = max_participants
    appointment.invited_participant_ids = [str(u) for u in invited]
    add_event(
        db,
        AppointmentRescheduled(
            **_change_event(appointment),
            max_participants=max_participants,
            invited_participant_ids=invited,
        ),
        source=SOURCE,
    )
    await audit.record(db, principal, "update", "appointment", [appointment.id])
    return _appointment_view(appointment)


async def cancel_appointment(
    db: AsyncSession, principal: Principal, appointment_id: uuid.UUID
) -> AppointmentView:
    """Either party (or a partner app with ``appointments:write``) cancels an appointment
    that has not happened yet."""
    appointment, role = await _appointment_of_party(db, principal, appointment_id)
    _require_open(appointment)
    appointment.status = "cancelled"
    record = await repository.get_session_record(db, appointment.session_id)
    if record is not None and record.ended_at is None:
        record.status = "cancelled"
    add_event(
        db,
        AppointmentCancelled(**_change_event(appointment), cancelled_by=role),
        source=SOURCE,
    )
    await audit.record(db, principal, "update", "appointment", [appointment.id])
    return _appointment_view(appointment)


async def mark_no_show(
    db: AsyncSession, principal: Principal, appointment_id: uuid.UUID
) -> AppointmentView:
    """The clinician records that the client did not come, once the start time has passed."""
    if is_partner(principal):
        raise Forbidden("only the clinician records a no-show")
    appointment, role = await _appointment_of_party(db, principal, appointment_id)
    if role != "clinician":
        raise Forbidden("only the clinician records a no-show")
    _require_open(appointment)
    if appointment.starts_at > utc_now():
        raise AppointmentClosed(f"appointment {appointment.id} has not started yet")
    _set_no_show(db, appointment)
    await audit.record(db, principal, "update", "appointment", [appointment.id])
    return _appointment_view(appointment)


def _set_no_show(db: AsyncSession, appointment: Appointment) -> None:
    appointment.status = "noshow"
    add_event(db, AppointmentNoShow(**_change_event(appointment)), source=SOURCE)


def _require_future(starts_at: datetime) -> None:
    if starts_at < utc_now() - BOOKING_GRACE:
        raise InvalidRequest(
            f"starts_at: {starts_at.isoformat()} is in the past", field="starts_at"
        )
