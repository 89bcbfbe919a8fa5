"""Catalog payloads as records would publish them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.events.catalog import (
    AppointmentCancelled,
    AppointmentReminderDue,
    AppointmentRescheduled,
    AppointmentScheduled,
    CallQualitySummary,
    GoalUpdated,
    SessionCompleted,
)


def session_completed() -> SessionCompleted:
    ended = datetime.now(UTC).replace(microsecond=0)
    clinician, client = uuid.uuid4(), uuid.uuid4()
    return SessionCompleted(
        session_id=uuid.uuid4(),
        appointment_id=uuid.uuid4(),
        clinician_id=clinician,
        client_id=client,
        outcome="completed",
        started_at=ended - timedelta(minutes=50),
        ended_at=ended,
        duration_seconds=3000,
        attended_by=[clinician, client],
        goal_update_count=2,
    )


def appointment_scheduled() -> AppointmentScheduled:
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    return AppointmentScheduled(
        appointment_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        clinician_id=uuid.uuid4(),
        client_id=uuid.uuid4(),
        starts_at=starts,
        ends_at=starts + timedelta(minutes=50),
    )


def goal_updated() -> GoalUpdated:
    return GoalUpdated(
        goal_update_id=uuid.uuid4(),
        goal_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        clinician_id=uuid.uuid4(),
        client_id=uuid.uuid4(),
        author_role="client",
        progress=7,
        recorded_at=datetime.now(UTC),
    )


def session_completed_with_quality() -> SessionCompleted:
    completed = session_completed()
    quality = CallQualitySummary(
        samples=40,
        round_trip_ms_median=48.0,
        round_trip_ms_p95=120.5,
        packet_loss_mean=0.004,
        jitter_ms_mean=6.2,
        bitrate_kbps_min=310.0,
    )
    return completed.model_copy(update={"quality": quality})


def appointment_scheduled_for_a_group() -> AppointmentScheduled:
    """Booked by a partner app, with an interpreter invited."""
    return appointment_scheduled().model_copy(
        update={
            "max_participants": 3,
            "invited_participant_ids": [uuid.uuid4()],
            "booked_by": "partner",
        }
    )


def appointment_rescheduled() -> AppointmentRescheduled:
    booked = appointment_scheduled_for_a_group()
    return AppointmentRescheduled(
        appointment_id=booked.appointment_id,
        session_id=booked.session_id,
        clinician_id=booked.clinician_id,
        client_id=booked.client_id,
        starts_at=booked.starts_at + timedelta(hours=1),
        ends_at=booked.ends_at + timedelta(hours=1),
        status="booked",
        at=datetime.now(UTC),
        max_participants=booked.max_participants,
        invited_participant_ids=booked.invited_participant_ids,
    )


def appointment_cancelled_by_a_partner() -> AppointmentCancelled:
    booked = appointment_scheduled()
    return AppointmentCancelled(
        appointment_id=booked.appointment_id,
        session_id=booked.session_id,
        clinician_id=booked.clinician_id,
        client_id=booked.client_id,
        starts_at=booked.starts_at,
        ends_at=booked.ends_at,
        status="cancelled",
        at=datetime.now(UTC),
        cancelled_by="partner",
    )


def appointment_reminder_due(clinician_id: uuid.UUID | None = None) -> AppointmentReminderDue:
    booked = appointment_scheduled()
    return AppointmentReminderDue(
        appointment_id=booked.appointment_id,
        session_id=booked.session_id,
        clinician_id=clinician_id or booked.clinician_id,
        client_id=booked.client_id,
        starts_at=booked.starts_at,
        ends_at=booked.ends_at,
        lead_hours=24.0,
        at=booked.starts_at - timedelta(hours=24),
    )
