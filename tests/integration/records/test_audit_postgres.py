"""The audit log on a real PostgreSQL: the append-only trigger, and a chain that stays
verifiable while many requests append and two sealers (two records processes) race."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from services.records.__main__ import main
from services.records.app import create_app, migrate
from services.records.models import AuditEntry
from services.records.settings import RecordsSettings
from tests.support.tokens import TestTokenIssuer
from tests.unit.records.conftest import Records
from tests.unit.records.test_audit_concurrency import read_with_two_sealers

pytestmark = pytest.mark.integration


@pytest.fixture
async def records(fresh_database: str) -> AsyncIterator[Records]:
    settings = RecordsSettings(
        environment="test",
        database_url=fresh_database,
        kafka_bootstrap="127.0.0.1:1",  # nothing listens: the relay keeps retrying
        reminder_poll_seconds=3600,
        completion_poll_seconds=3600,
        audit_seal_seconds=3600,
    )
    await asyncio.to_thread(migrate, fresh_database)
    issuer = TestTokenIssuer()
    app = create_app(settings, key_source=issuer.key_source)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://records"
        ) as http,
    ):
        yield Records(app, http, issuer)


async def _verify(url: str, monkeypatch: pytest.MonkeyPatch, capsys) -> tuple[int, dict]:
    monkeypatch.setenv("RAPPORT_RECORDS_DATABASE_URL", url)
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["verify-audit"])
    return code, json.loads(capsys.readouterr().out)


async def _unsealed_entry(records: Records) -> AuditEntry:
    async with records.database.unit_of_work() as db:
        entry = AuditEntry(
            actor_role="system", action="read", resource_type="goal", resource_id="x"
        )
        db.add(entry)
    return entry


async def test_the_trigger_refuses_rewriting_and_deleting_audit_rows(records: Records):
    sealed = await _unsealed_entry(records)
    await records.seal()
    unsealed = await _unsealed_entry(records)

    for statement in (
        f"UPDATE audit_entries SET action = 'nothing' WHERE id = {sealed.id}",
        f"UPDATE audit_entries SET entry_hash = repeat('f', 64) WHERE id = {sealed.id}",
        f"UPDATE audit_entries SET seq = NULL, prev_hash = NULL, entry_hash = NULL "
        f"WHERE id = {sealed.id}",
        f"UPDATE audit_entries SET action = 'nothing' WHERE id = {unsealed.id}",
        # Sealing an entry while changing it is not sealing.
        f"UPDATE audit_entries SET seq = 99, prev_hash = 'a', entry_hash = 'b', "
        f"actor_role = 'admin' WHERE id = {unsealed.id}",
        f"DELETE FROM audit_entries WHERE id = {sealed.id}",
        f"DELETE FROM audit_entries WHERE id = {unsealed.id}",
        "TRUNCATE audit_entries",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with records.database.unit_of_work() as db:
                await db.exec(sa.text(statement))  # type: ignore[call-overload]

    assert await records.seal() == 1
    entries = await records.audit_entries()
    assert [(e.id, e.seq, e.action) for e in entries] == [
        (sealed.id, 1, "read"),
        (unsealed.id, 2, "read"),
    ]


async def test_an_entry_committed_late_is_sealed_after_those_committed_before_it(
    records: Records, monkeypatch, capsys
):
    async with records.database.unit_of_work() as late:
        late_entry = AuditEntry(
            actor_role="system", action="read", resource_type="goal", resource_id="late"
        )
        late.add(late_entry)
        await late.flush()  # its id is taken now; the transaction stays open
        early = await _unsealed_entry(records)
        assert late_entry.id is not None and early.id is not None
        assert late_entry.id < early.id

        # Only what is committed is sealed: the open transaction's entry is not skipped
        # past, it is invisible, and is sealed once it commits.
        assert await records.seal() == 1
    assert await records.seal() == 1

    by_id = {e.id: e for e in await records.audit_entries()}
    assert (by_id[early.id].seq, by_id[late_entry.id].seq) == (1, 2)
    code, report = await _verify(records.database.url, monkeypatch, capsys)
    assert code == 0, report
    assert (report["checked"], report["unsealed"]) == (2, 0)


async def test_the_log_verifies_after_concurrent_readers_and_two_racing_sealers(
    records: Records, monkeypatch, capsys
):
    statuses = await read_with_two_sealers(records, reads=60)

    assert statuses == [200] * 60
    async with records.database.unit_of_work() as db:
        seqs = (await db.exec(select(AuditEntry.seq).order_by(col(AuditEntry.seq)))).all()
    assert seqs == list(range(1, len(seqs) + 1))
    code, report = await _verify(records.database.url, monkeypatch, capsys)
    assert code == 0, report
    assert (report["checked"], report["unsealed"]) == (len(seqs), 0)
