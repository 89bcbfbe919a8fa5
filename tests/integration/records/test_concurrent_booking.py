"""Concurrent overlapping bookings of one clinician: exactly one wins, the rest are 409.

Run on a real PostgreSQL, where bookings are serialised by a per-clinician advisory lock, and
on SQLite (the embedded default), where the database's single writer must serialise them.
Either way no booking may double-book the clinician, and none may answer 500.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from services.records.app import migrate
from tests.unit.records.conftest import T0, Records, migrated_database, running_records

BOOKINGS = 20


@pytest.fixture(params=["postgresql", "sqlite"])
async def records(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Records]:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("fresh_database")
        await asyncio.to_thread(migrate, url)
    else:
        url = await migrated_database(tmp_path)
    async with running_records(url) as running:
        yield running


async def test_concurrent_overlapping_bookings_one_wins_the_rest_are_409(
    records: Records,
) -> None:
    clinician = await records.register("clinician")
    clients = [await records.register("client") for _ in range(BOOKINGS)]
    for client in clients:
        await records.relate(clinician, client)

    # Every pair overlaps: each starts two minutes after the one before and lasts 50.
    answers = await asyncio.gather(
        *(
            records.book(clinician, client, T0 + timedelta(minutes=2 * n))
            for n, client in enumerate(clients)
        )
    )

    statuses = Counter(a.status_code for a in answers)
    assert statuses == {201: 1, 409: BOOKINGS - 1}, [
        a.text for a in answers if a.status_code >= 500
    ]
    refused = [a.json() for a in answers if a.status_code == 409]
    assert {r["error"] for r in refused} == {"AppointmentOverlaps"}
    listed = await records.http.get("/v1/appointments", headers=records.auth(clinician))
    assert [a["client_id"] for a in listed.json()] == [
        a.json()["client_id"] for a in answers if a.status_code == 201
    ]
