"""The records schema: the migration matches the models, and the audit log is append-only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import services.records.models  # noqa: F401  (registers the tables)
from services.records.app import MIGRATIONS_DIR
from services.records.models import AuditEntry
from shared.migrations import alembic_config
from tests.unit.records.conftest import Records, migrated_database

RECORDS_TABLES = {
    "known_users",
    "appointments",
    "session_records",
    "session_attendance",
    "goals",
    "goal_updates",
    "goal_agreements",
    "care_relationships",
    "check_ins",
    "clinician_notes",
    "client_values",
    "audit_entries",
    "availability",
    "availability_exceptions",
    "reminders_sent",
    "call_quality_samples",
    "partner_grant_revocations",
    "measure_assignments",
    "measure_responses",
    "safety_flags",
    "safety_plan_versions",
    "outbox",
    "inbox",
}


async def _inspect(url: str) -> tuple[set[str], list[object]]:
    """The database's tables, and how its schema differs from the models."""

    def inspect(connection: sa.Connection) -> tuple[set[str], list[object]]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
        return set(sa.inspect(connection).get_table_names()), differences

    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(inspect)
    finally:
        await engine.dispose()


async def test_the_migration_creates_exactly_the_models_tables(tmp_path: Path):
    tables, differences = await _inspect(await migrated_database(tmp_path))

    assert tables >= RECORDS_TABLES
    # Other services' models may share SQLModel.metadata in one test process; only
    # differences that touch records' own tables count.
    assert [d for d in differences if _table_of(d) in RECORDS_TABLES] == []


async def test_the_migration_downgrades_to_an_empty_database(tmp_path: Path):
    url = await migrated_database(tmp_path)

    await asyncio.to_thread(command.downgrade, alembic_config(MIGRATIONS_DIR, url), "base")

    tables, _ = await _inspect(url)
    assert tables & RECORDS_TABLES == set()


def _table_of(difference: object) -> str | None:
    item = difference[0] if isinstance(difference, list) else difference
    assert isinstance(item, tuple)
    for part in item[1:]:
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if table is not None:
            return str(table.name)
        if isinstance(part, str):
            return part
        if name is not None:
            return str(name)
    return None


async def test_the_audit_log_refuses_updates_and_deletes(records: Records):
    async with records.database.unit_of_work() as db:
        db.add(
            AuditEntry(actor_role="system", action="read", resource_type="goal", resource_id="x")
        )

    for statement in (
        "UPDATE audit_entries SET action = 'nothing'",
        "DELETE FROM audit_entries",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with records.database.unit_of_work() as db:
                await db.exec(sa.text(statement))  # type: ignore[call-overload]

    assert [e.action for e in await records.audit_entries()] == ["read"]
