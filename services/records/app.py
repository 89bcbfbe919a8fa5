"""The records service's composition root."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.records import api, audit, events, scheduling, sessions
from services.records.models import AuditEntry
from services.records.settings import RecordsSettings
from services.records.timers import CompletionLoop, EscalationLoop, ReminderLoop
from shared.audit_log import AuditAppender, AuditSealer, Verification
from shared.db import Database
from shared.migrations import upgrade
from shared.service_app import BackgroundTasks, add_event_pipeline, build_service_app
from shared.tokens import JwksKeySource, KeySource, TokenVerifier

SERVICE = "records"
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def create_app(settings: RecordsSettings, *, key_source: KeySource | None = None) -> FastAPI:
    """Wire the database, Kafka publisher, outbox relay, consumer, token verifier and routes.

    Kafka is reached only from the background tasks, which retry until it answers, so the
    app serves HTTP while the broker is down.
    """
    database = Database(settings.database_url)
    billing = sessions.BillingTable.from_settings(settings)
    background = BackgroundTasks()
    background.on_shutdown(database.dispose)
    add_event_pipeline(
        background,
        service=SERVICE,
        settings=settings,
        database=database,
        router=events.build_router(billing),
    )
    reminders = ReminderLoop(
        database, settings.reminder_hours, poll_seconds=settings.reminder_poll_seconds
    )
    background.add("reminders", reminders.run, stop=reminders.stop)
    completions = CompletionLoop(
        database,
        settings.completion_settle_seconds,
        billing=billing,
        poll_seconds=settings.completion_poll_seconds,
    )
    background.add("session-completions", completions.run, stop=completions.stop)
    escalations = EscalationLoop(
        database, settings.safety_on_call_id, poll_seconds=settings.safety_poll_seconds
    )
    background.add("safety-escalations", escalations.run, stop=escalations.stop)

    app = build_service_app(
        name=SERVICE,
        settings=settings,
        background=background,
        checks={"database": database.ping},
        description="Appointments, session records, goals and the audit log.",
    )
    app.state.database = database
    app.state.billing_table = billing
    app.state.slot_rules = scheduling.SlotRules(
        slot_minutes=settings.slot_minutes, step_minutes=settings.slot_step_minutes
    )
    app.state.token_verifier = TokenVerifier(
        key_source or JwksKeySource(settings.jwks_url),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )
    sealer = AuditSealer(
        database, AuditEntry, app.state.metrics.registry, poll_seconds=settings.audit_seal_seconds
    )
    background.add("audit-sealer", sealer.run, stop=sealer.stop)
    app.state.audit_sealer = sealer
    # Its own engine (one connection in use at a time): see AuditAppender.
    appender_database = Database(settings.database_url)
    background.on_shutdown(appender_database.dispose)
    app.state.audit_appender = AuditAppender(appender_database, AuditEntry)
    app.include_router(api.router)
    return app


def migrate(database_url: str) -> None:
    """Bring the records database to the newest schema (outside a running event loop)."""
    upgrade(MIGRATIONS_DIR, database_url)


async def verify_audit(database_url: str) -> Verification:
    """Check the audit log's hash chain in the database at ``database_url``."""
    database = Database(database_url)
    try:
        async with database.unit_of_work(notify=False) as db:
            return await audit.verify_audit_log(db)
    finally:
        await database.dispose()
