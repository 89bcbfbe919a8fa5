"""Appointment reminders: ``AppointmentReminderDue`` N hours before each booked appointment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from services.records import repository
from services.records.access import SOURCE
from services.records.models import ReminderSent
from shared.events.catalog import AppointmentReminderDue
from shared.events.outbox import add_event


async def send_due_reminders(db: AsyncSession, now: datetime, lead_hours: Sequence[float]) -> int:
    """Queue the reminders that have come due by ``now``; returns how many were queued.

    A reminder is due ``lead`` hours before a booked appointment starts and goes out once per
    appointment, lead time and start time (stored in ``reminders_sent``, so a restart sends
    nothing twice; a rescheduled appointment is reminded of its new time; a cancelled one,
    or one already under way, of nothing). When several lead times have passed at once
    (records was down, or the appointment moved closer), only the shortest goes out; a lead
    time that had passed before the appointment was booked is skipped.
    """
    if not lead_hours:
        return 0
    leads = sorted({round(hours * 60) for hours in lead_hours})
    appointments = await repository.appointments_due_for_reminder(
        db, now, now + timedelta(minutes=leads[-1])
    )
    sent = await repository.reminders_sent_for(db, [a.id for a in appointments])
    queued = 0
    for appointment in appointments:
        due = [
            lead
            for lead in leads
            if appointment.starts_at - timedelta(minutes=lead) <= now
            and (appointment.id, lead, appointment.starts_at) not in sent
        ]
        if not due:
            continue
        shortest = due[0]
        for lead in due:
            repository.add(
                db,
                ReminderSent(
                    appointment_id=appointment.id,
                    lead_minutes=lead,
                    starts_at=appointment.starts_at,
                ),
            )
        reminder_at = appointment.starts_at - timedelta(minutes=shortest)
        if reminder_at < appointment.created_at:
            continue
        add_event(
            db,
            AppointmentReminderDue(
                appointment_id=appointment.id,
                session_id=appointment.session_id,
                clinician_id=appointment.clinician_id,
                client_id=appointment.client_id,
                starts_at=appointment.starts_at,
                ends_at=appointment.ends_at,
                lead_hours=shortest / 60,
                at=now,
            ),
            source=SOURCE,
        )
        queued += 1
    return queued
