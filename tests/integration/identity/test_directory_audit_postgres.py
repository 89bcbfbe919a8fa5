"""identity's directory audit table on a real PostgreSQL: the shared append-only guard lets
the sealer seal and refuses every other change."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from sqlalchemy.exc import DBAPIError

from services.identity.__main__ import MIGRATIONS
from services.identity.models import DirectoryAuditEntry
from shared import audit_log
from shared.audit_log import AuditSealer
from shared.db import Database
from shared.migrations import upgrade

pytestmark = pytest.mark.integration


async def test_the_directory_audit_seals_verifies_and_refuses_rewrites(fresh_database: str):
    await asyncio.to_thread(upgrade, MIGRATIONS, fresh_database)
    database = Database(fresh_database)
    try:
        async with database.unit_of_work() as db:
            db.add_all(
                DirectoryAuditEntry(
                    actor_role="admin", action="read", resource_type="user", resource_id=str(n)
                )
                for n in range(3)
            )
        sealer = AuditSealer(database, DirectoryAuditEntry, CollectorRegistry(), poll_seconds=1)
        assert await sealer.seal() == 3

        for statement in (
            "UPDATE directory_audit_entries SET resource_id = 'x' WHERE seq = 2",
            "UPDATE directory_audit_entries SET seq = NULL, prev_hash = NULL, entry_hash = NULL",
            "DELETE FROM directory_audit_entries WHERE seq = 3",
            "TRUNCATE directory_audit_entries",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                async with database.unit_of_work() as db:
                    await db.exec(sa.text(statement))  # type: ignore[call-overload]

        async with database.unit_of_work() as db:
            verification = await audit_log.verify_log(db, DirectoryAuditEntry)
        assert verification.ok, verification.problems
        assert (verification.checked, verification.unsealed) == (3, 0)
    finally:
        await database.dispose()
