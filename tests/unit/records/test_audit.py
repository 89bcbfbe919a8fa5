"""The audit log: hash-chained entries, the verify command, admin queries, break-glass."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from services.records.__main__ import main
from services.records.app import MIGRATIONS_DIR
from services.records.models import AuditEntry
from shared import audit_log
from shared.audit_log import AuditSealer
from shared.db import Database
from shared.events.catalog import BreakGlassUsed
from shared.migrations import upgrade
from tests.unit.records.conftest import Records


def _path(records: Records) -> Path:
    return Path(records.database.url.removeprefix("sqlite+aiosqlite:///"))


async def _verify(records: Records, monkeypatch: pytest.MonkeyPatch, capsys) -> tuple[int, dict]:
    monkeypatch.setenv("RAPPORT_RECORDS_DATABASE_URL", records.database.url)
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["verify-audit"])
    return code, json.loads(capsys.readouterr().out)


def _tamper(records: Records, *statements: str) -> None:
    """What someone with write access to the database file could do: drop the guards, edit."""
    with sqlite3.connect(_path(records)) as connection:
        connection.execute("DROP TRIGGER audit_entries_no_update")
        connection.execute("DROP TRIGGER audit_entries_no_delete")
        for statement in statements:
            connection.execute(statement)


async def _some_history(records: Records) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    await records.set_goal(clinician, client)
    await records.http.get(f"/v1/sessions/{session_id}", headers=records.auth(client))
    return clinician, client, session_id


async def test_an_untouched_chain_verifies(records: Records, monkeypatch, capsys):
    await _some_history(records)
    entries = await records.audit_entries()
    assert len(entries) >= 5
    assert all(e.entry_hash and e.prev_hash for e in entries)
    assert [e.prev_hash for e in entries[1:]] == [e.entry_hash for e in entries[:-1]]

    code, report = await _verify(records, monkeypatch, capsys)

    assert code == 0, report
    assert report["ok"] is True
    assert report["checked"] == len(entries)
    assert report["head"] == entries[-1].entry_hash


async def test_verify_detects_an_edited_entry(records: Records, monkeypatch, capsys):
    await _some_history(records)
    target = (await records.audit_entries())[2]
    _tamper(records, f"UPDATE audit_entries SET actor_role = 'admin' WHERE id = {target.id}")

    code, report = await _verify(records, monkeypatch, capsys)

    assert code == 1
    assert {"entry_id": target.id, "what": "entry changed"} in report["problems"]


async def test_verify_detects_a_deleted_entry(records: Records, monkeypatch, capsys):
    await _some_history(records)
    entries = await records.audit_entries()
    target = entries[3]
    _tamper(records, f"DELETE FROM audit_entries WHERE id = {target.id}")

    code, report = await _verify(records, monkeypatch, capsys)

    assert code == 1
    broken = {p["entry_id"] for p in report["problems"]}
    assert broken == {entries[4].id}
    assert any("missing" in p["what"] for p in report["problems"])


async def test_verify_detects_a_rewritten_hash(records: Records, monkeypatch, capsys):
    # Re-hashing an edited entry is not enough: the next entry still links to the old hash.
    await _some_history(records)
    entries = await records.audit_entries()
    target = entries[1]
    _tamper(records, f"UPDATE audit_entries SET entry_hash = '{'f' * 64}' WHERE id = {target.id}")

    code, report = await _verify(records, monkeypatch, capsys)

    assert code == 1
    assert {p["entry_id"] for p in report["problems"]} == {target.id, entries[2].id}


async def test_every_read_is_audited_with_who_and_from_where(records: Records):
    clinician, client, session_id = await _some_history(records)
    await records.http.get(
        f"/v1/sessions/{session_id}",
        headers={**records.auth(clinician), "X-Forwarded-For": "203.0.113.7, 10.0.0.1"},
    )
    [entry] = [
        e
        for e in await records.audit_entries()
        if e.action == "read" and e.resource_id == str(session_id) and e.actor_id == clinician
    ]
    assert entry.resource_type == "session_record"
    assert entry.origin == "203.0.113.7"


async def test_admins_query_the_log_and_others_cannot(records: Records):
    clinician, client, session_id = await _some_history(records)
    admin = await records.register("admin")

    by_admin = await records.http.get(
        "/v1/audit", params={"resource_id": str(session_id)}, headers=records.auth(admin)
    )
    by_clinician = await records.http.get("/v1/audit", headers=records.auth(clinician))
    too_many = await records.http.get(
        "/v1/audit", params={"limit": 501}, headers=records.auth(admin)
    )
    assert by_admin.status_code == 200
    rows = by_admin.json()
    assert rows and {r["resource_id"] for r in rows} == {str(session_id)}
    assert {"create", "read"} <= {r["action"] for r in rows}
    assert by_clinician.status_code == 403
    assert too_many.status_code == 422 and "limit" in too_many.text
    page = await records.http.get(
        "/v1/audit", params={"after_id": rows[0]["id"], "limit": 1}, headers=records.auth(admin)
    )
    assert [r["id"] for r in page.json()] == [rows[0]["id"] + 1]
    assert any(
        e.resource_type == "audit_log" and e.actor_id == admin
        for e in await records.audit_entries()
    )


async def test_break_glass_is_needed_audited_and_published(records: Records):
    clinician, client, session_id = await _some_history(records)
    admin = await records.register("admin")
    await records.http.post(
        "/v1/notes",
        json={"client_id": str(client), "visibility": "private", "text": "PRIVATE"},
        headers=records.auth(clinician),
    )
    reason = {"X-Break-Glass-Reason": "Court order 2030-17"}

    without = await records.http.get(f"/v1/sessions/{session_id}", headers=records.auth(admin))
    notes_without = await records.http.get(
        "/v1/notes", params={"client_id": str(client)}, headers=records.auth(admin)
    )
    assert (without.status_code, notes_without.status_code) == (403, 403)
    assert await records.outbox(BreakGlassUsed) == []

    with_reason = await records.http.get(
        f"/v1/sessions/{session_id}", headers={**records.auth(admin), **reason}
    )
    notes = await records.http.get(
        "/v1/notes", params={"client_id": str(client)}, headers={**records.auth(admin), **reason}
    )
    assert with_reason.status_code == 200
    assert [n["text"] for n in notes.json()] == ["PRIVATE"]
    events = await records.outbox(BreakGlassUsed)
    assert [(e.admin_id, e.resource_type) for e in events] == [
        (admin, "session_record"),
        (admin, "client"),
    ]
    assert all("Court" not in str(e.model_dump()) for e in events)
    glass = [e for e in await records.audit_entries() if e.action == "break-glass"]
    assert [e.reason for e in glass] == ["Court order 2030-17"] * 2

    # The reason opens reads only: an admin still cannot write.
    write = await records.http.post(
        "/v1/notes",
        json={"client_id": str(client), "visibility": "shared", "text": "x"},
        headers={**records.auth(admin), **reason},
    )
    assert write.status_code == 403


async def test_verify_detects_reordered_entries(records: Records, monkeypatch, capsys):
    await _some_history(records)
    entries = await records.audit_entries()
    first, second = entries[1], entries[2]
    _tamper(
        records,
        f"UPDATE audit_entries SET seq = -1 WHERE id = {first.id}",
        f"UPDATE audit_entries SET seq = {first.seq} WHERE id = {second.id}",
        f"UPDATE audit_entries SET seq = {second.seq} WHERE id = {first.id}",
    )

    code, report = await _verify(records, monkeypatch, capsys)

    assert code == 1
    problems = {(p["entry_id"], p["what"]) for p in report["problems"]}
    assert (second.id, "previous entry changed or deleted") in problems
    assert (first.id, "previous entry changed or deleted") in problems


async def test_verify_detects_an_inserted_entry(records: Records, monkeypatch, capsys):
    # A forged entry hashed correctly for its place still breaks the link to the next one.
    await _some_history(records)
    entries = await records.audit_entries()
    after = entries[2]
    assert after.seq is not None and after.entry_hash is not None
    forged = AuditEntry(
        id=10_000,
        at=after.at,
        actor_role="admin",
        action="read",
        resource_type="note",
        resource_id="forged",
    )
    audit_log.seal(forged, after.seq + 1, after.entry_hash)
    later = [e for e in entries if e.seq is not None and e.seq > after.seq]
    _tamper(
        records,
        # Make room in seq, newest first so seq stays unique on the way.
        *(
            f"UPDATE audit_entries SET seq = {e.seq + 1} WHERE id = {e.id}"
            for e in reversed(later)
            if e.seq is not None
        ),
        "INSERT INTO audit_entries (id, at, actor_role, action, resource_type, resource_id, "
        f"seq, prev_hash, entry_hash) VALUES ({forged.id}, '{forged.at.isoformat(' ')}', "
        f"'admin', 'read', 'note', 'forged', {forged.seq}, '{forged.prev_hash}', "
        f"'{forged.entry_hash}')",
    )

    code, report = await _verify(records, monkeypatch, capsys)

    assert code == 1
    assert report["problems"] == [
        {"entry_id": entries[3].id, "what": "previous entry changed or deleted"}
    ]


async def test_the_sealer_may_seal_an_entry_but_nothing_may_rewrite_one(records: Records):
    await _some_history(records)
    sealed = (await records.audit_entries())[0]
    async with records.database.unit_of_work() as db:
        db.add(
            AuditEntry(actor_role="system", action="read", resource_type="goal", resource_id="x")
        )
    [unsealed] = [e for e in await _all_entries(records) if e.seq is None]

    for statement in (
        f"UPDATE audit_entries SET seq = 999, prev_hash = 'a', entry_hash = 'b' "
        f"WHERE id = {sealed.id}",
        f"UPDATE audit_entries SET action = 'nothing', seq = 999, prev_hash = 'a', "
        f"entry_hash = 'b' WHERE id = {unsealed.id}",
        f"UPDATE audit_entries SET action = 'nothing' WHERE id = {unsealed.id}",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with records.database.unit_of_work() as db:
                await db.exec(sa.text(statement))  # type: ignore[call-overload]

    assert await records.seal() == 1
    assert [e.action for e in await _all_entries(records) if e.id == unsealed.id] == ["read"]


async def test_sealing_lag_is_a_metric(records: Records):
    clinician, _, session_id = await _some_history(records)
    await records.seal()
    sealer = records.app.state.audit_sealer
    for _ in range(3):
        response = await records.http.get(
            f"/v1/sessions/{session_id}", headers=records.auth(clinician)
        )
        assert response.status_code == 200

    await sealer.measure()
    waiting = await _metrics(records)
    await records.seal()
    caught_up = await _metrics(records)

    assert waiting["rapport_audit_unsealed_entries"] == 3
    assert waiting["rapport_audit_oldest_unsealed_seconds"] >= 0
    assert caught_up["rapport_audit_unsealed_entries"] == 0
    assert caught_up["rapport_audit_oldest_unsealed_seconds"] == 0
    sealed_total = caught_up["rapport_audit_sealed_entries_total"]
    assert sealed_total == len(await _all_entries(records))


async def test_a_chain_from_before_the_sealer_stays_verifiable(tmp_path: Path, monkeypatch, capsys):
    # Entries chained in id order by the old code, then the upgrade, then new entries sealed.
    url = f"sqlite+aiosqlite:///{tmp_path / 'records.db'}"
    await asyncio.to_thread(upgrade, MIGRATIONS_DIR, url, "0004")
    head = audit_log.GENESIS
    with sqlite3.connect(tmp_path / "records.db") as connection:
        for entry_id in (1, 2, 3):
            old = AuditEntry(
                id=entry_id,
                at=datetime(2030, 1, 1, tzinfo=UTC),
                actor_role="system",
                action="read",
                resource_type="goal",
                resource_id=str(entry_id),
            )
            previous, head = head, audit_log.entry_hash(old, head)
            connection.execute(
                "INSERT INTO audit_entries (id, at, actor_role, action, resource_type, "
                "resource_id, prev_hash, entry_hash) VALUES (?, ?, 'system', 'read', 'goal', ?,"
                " ?, ?)",
                (entry_id, "2030-01-01 00:00:00.000000", str(entry_id), previous, head),
            )
    await asyncio.to_thread(upgrade, MIGRATIONS_DIR, url)
    database = Database(url)
    try:
        async with database.unit_of_work() as db:
            db.add(
                AuditEntry(
                    actor_role="system", action="read", resource_type="goal", resource_id="4"
                )
            )
        sealer = AuditSealer(database, AuditEntry, CollectorRegistry(), poll_seconds=1)
        assert await sealer.seal() == 1
    finally:
        await database.dispose()
    monkeypatch.setenv("RAPPORT_RECORDS_DATABASE_URL", url)
    capsys.readouterr()

    code = await asyncio.to_thread(main, ["verify-audit"])

    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert (report["checked"], report["unsealed"]) == (4, 0)


async def _all_entries(records: Records) -> list[AuditEntry]:
    """Every entry as it stands, sealed or not (``records.audit_entries`` seals first)."""
    async with records.database.unit_of_work() as db:
        return list((await db.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all())


async def _metrics(records: Records) -> dict[str, float]:
    response = await records.http.get("/metrics")
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name.startswith("rapport_audit_")
    }
