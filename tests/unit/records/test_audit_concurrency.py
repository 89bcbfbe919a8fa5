"""A client's record page under concurrency: its parallel reads all answer, all are audited,
and the audit log verifies once the sealer has caught up."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import event
from sqlalchemy.engine import Engine

from services.records.__main__ import main
from services.records.models import AuditEntry
from shared.audit_log import AuditSealer
from shared.db import Database
from tests.unit.records.conftest import Records


async def _client_with_a_record(records: Records) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    await records.set_goal(clinician, client)
    for text in ("first", "second", "third"):
        response = await records.http.post(
            "/v1/notes",
            json={"client_id": str(client), "visibility": "private", "text": text},
            headers=records.auth(clinician),
        )
        assert response.status_code == 201, response.text
    response = await records.http.post(
        "/v1/values", json={"statement": "Family comes first"}, headers=records.auth(client)
    )
    assert response.status_code == 201, response.text
    return clinician, client, session_id


def record_page_reads(client: uuid.UUID, session_id: uuid.UUID, relationship: str) -> list[str]:
    """What web/public/js/client-record.js fetches when a clinician opens a client's record."""
    return [
        "/v1/care-relationships",
        f"/v1/care-relationships/{relationship}/readiness",
        f"/v1/goals?client_id={client}",
        f"/v1/values?client_id={client}",
        f"/v1/notes?client_id={client}",
        f"/v1/clients/{client}/progress?limit=200",
        f"/v1/sessions/{session_id}",
    ]


async def test_twenty_parallel_record_page_reads_all_answer_and_the_log_verifies(
    records: Records, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    clinician, client, session_id = await _client_with_a_record(records)
    relationship = (await records.relate(clinician, client))["id"]
    pages = record_page_reads(client, session_id, relationship)
    urls = [pages[i % len(pages)] for i in range(20)]
    before = len(await records.audit_entries())

    responses = await asyncio.gather(
        *(records.http.get(url, headers=records.auth(clinician)) for url in urls)
    )

    assert [r.status_code for r in responses] == [200] * 20, [
        (url, r.status_code, r.text[:200])
        for url, r in zip(urls, responses, strict=True)
        if r.status_code != 200
    ]
    await records.seal()
    entries = await records.audit_entries()
    assert len(entries) > before
    assert all(e.entry_hash for e in entries)
    monkeypatch.setenv("RAPPORT_RECORDS_DATABASE_URL", records.database.url)
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["verify-audit"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["checked"] == len(entries)


async def read_while_sealing(records: Records, sealers: list[AuditSealer], reads: int) -> list[int]:
    """``reads`` parallel record-page reads as the clinician while every sealer seals over
    and over; then one last seal. Returns the reads' status codes."""
    clinician, client, session_id = await _client_with_a_record(records)
    relationship = (await records.relate(clinician, client))["id"]
    pages = record_page_reads(client, session_id, relationship)
    done = asyncio.Event()

    async def keep_sealing(sealer: AuditSealer) -> None:
        while not done.is_set():
            await sealer.seal()
            await asyncio.sleep(0)

    sealing = [asyncio.create_task(keep_sealing(sealer)) for sealer in sealers]
    try:
        responses = await asyncio.gather(
            *(
                records.http.get(pages[i % len(pages)], headers=records.auth(clinician))
                for i in range(reads)
            )
        )
    finally:
        done.set()
        await asyncio.gather(*sealing)
    await sealers[0].seal()
    return [r.status_code for r in responses]


async def read_with_two_sealers(records: Records, reads: int) -> list[int]:
    """:func:`read_while_sealing` with the app's sealer and a second records process's (its
    own engine, its own sealer) racing it."""
    other = Database(records.database.url)
    try:
        sealers = [
            records.app.state.audit_sealer,
            AuditSealer(other, AuditEntry, CollectorRegistry(), poll_seconds=3600),
        ]
        return await read_while_sealing(records, sealers, reads)
    finally:
        await other.dispose()


async def test_the_log_verifies_after_concurrent_readers_and_two_racing_sealers(
    records: Records, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    statuses = await read_with_two_sealers(records, reads=40)

    assert statuses == [200] * 40
    entries = await records.audit_entries()
    assert sorted(e.seq for e in entries if e.seq) == list(range(1, len(entries) + 1))
    monkeypatch.setenv("RAPPORT_RECORDS_DATABASE_URL", records.database.url)
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["verify-audit"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert (report["checked"], report["unsealed"]) == (len(entries), 0)


async def test_parallel_audited_reads_share_their_audit_inserts(records: Records):
    clinician, client, _ = await _client_with_a_record(records)
    inserts: list[str] = []

    def count_audit_inserts(_conn, _cursor, statement: str, *_: object) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_ENTRIES"):
            inserts.append(statement)

    event.listen(Engine, "before_cursor_execute", count_audit_inserts)
    try:
        responses = await asyncio.gather(
            *(
                records.http.get(f"/v1/notes?client_id={client}", headers=records.auth(clinician))
                for _ in range(20)
            )
        )
    finally:
        event.remove(Engine, "before_cursor_execute", count_audit_inserts)

    assert [r.status_code for r in responses] == [200] * 20
    # Every read's entries are committed by the time it answers (three notes each)...
    note_reads = [e for e in await records.audit_entries() if e.resource_type == "note"]
    assert len([e for e in note_reads if e.action == "read"]) == 60
    # ...and the reads shared the statements that wrote them instead of one each.
    assert 1 <= len(inserts) < 20
