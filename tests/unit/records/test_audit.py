"""The audit log: hash-chained entries, the verify command, admin queries, break-glass."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import uuid
from pathlib import Path

import pytest

from services.records.__main__ import main
from shared.events.catalog import BreakGlassUsed
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
        headers=records.auth(clinician),
    )
    [entry] = [
        e
        for e in await records.audit_entries()
        if e.action == "read" and e.resource_id == str(session_id) and e.actor_id == clinician
    ]
    assert entry.resource_type == "session_record"
    assert entry.origin == "127.0.0.1"  # the caller's address (test_request_origin.py)


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
