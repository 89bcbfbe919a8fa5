"""Catalog payloads as records would publish them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from shared.events.catalog import AppointmentScheduled, GoalUpdated, SessionCompleted


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
