"""Where a request came from, as the audit log records it: believed from a trusted proxy only.

The address in an audit row is evidence of who looked at a record from where, so a client
must not be able to write its own into it with an X-Forwarded-For header.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from tests.unit.records.conftest import Records, migrated_database, running_records

GATEWAY = ("10.0.0.5", 40000)
CLIENT = ("203.0.113.50", 50000)
SPOOFED = "198.51.100.66"


async def _read_a_session(records: Records, forwarded_for: str) -> uuid.UUID:
    """A clinician books a session, then reads its record with ``forwarded_for`` sent along."""
    clinician = await records.register("clinician")
    client = await records.register("client")
    session_id = await records.booked_session(clinician, client)
    response = await records.http.get(
        f"/v1/sessions/{session_id}",
        headers={**records.auth(clinician), "X-Forwarded-For": forwarded_for},
    )
    assert response.status_code == 200, response.text
    return session_id


async def _origins(records: Records) -> set[str | None]:
    return {entry.origin for entry in await records.audit_entries()}


async def test_a_spoofed_forwarded_for_never_reaches_an_audit_row(tmp_path: Path) -> None:
    # Trusting nobody (the default): the connection's own address is the origin.
    async with running_records(await migrated_database(tmp_path), client=CLIENT) as records:
        await _read_a_session(records, SPOOFED)
        entries = await records.audit_entries()
        assert entries and {e.origin for e in entries} == {CLIENT[0]}
        assert not [e for e in entries if SPOOFED in e.model_dump_json()]


async def test_a_peer_that_is_not_the_trusted_proxy_is_not_believed(tmp_path: Path) -> None:
    async with running_records(
        await migrated_database(tmp_path), client=CLIENT, trusted_proxies=GATEWAY[0]
    ) as records:
        await _read_a_session(records, SPOOFED)
        assert await _origins(records) == {CLIENT[0]}


async def test_the_trusted_proxys_forwarded_address_is_the_origin(tmp_path: Path) -> None:
    async with running_records(
        await migrated_database(tmp_path),
        client=GATEWAY,
        trusted_proxies=f"{GATEWAY[0]}, 192.0.2.0/24",
    ) as records:
        # A client's own X-Forwarded-For comes first, the address each proxy saw is appended:
        # the right-most address that is not a trusted proxy is the client.
        session_id = await _read_a_session(records, f"{SPOOFED}, 203.0.113.9, 192.0.2.7")
        [read] = [
            e
            for e in await records.audit_entries()
            if e.action == "read" and e.resource_id == str(session_id)
        ]
        assert read.origin == "203.0.113.9"
        assert SPOOFED not in await _origins(records)
