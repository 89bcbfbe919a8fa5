"""One consent version published by several admins at once: one document, the rest 409 with
the reason, never 500; on a real PostgreSQL and on SQLite (the embedded default)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.records.app import migrate
from shared.events.catalog import ConsentDocumentPublished
from tests.unit.records.conftest import Records, migrated_database, running_records
from tests.unit.records.test_consent import publish


@pytest.fixture(params=["postgresql", "sqlite"])
async def records(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Records]:
    if request.param == "postgresql":
        url: str = request.getfixturevalue("fresh_database")
        await asyncio.to_thread(migrate, url)
    else:
        url = await migrated_database(tmp_path)
    async with running_records(url) as running:
        yield running


async def test_one_version_published_at_once_by_many_is_one_document(records: Records) -> None:
    admin = await records.register("admin")
    answers = await asyncio.gather(*(publish(records, admin, 4) for _ in range(10)))
    assert sorted(a.status_code for a in answers) == [201] + [409] * 9, [
        a.text for a in answers if a.status_code >= 500
    ]
    assert {a.json()["error"] for a in answers if a.status_code == 409} == {
        "ConsentVersionNotNewer"
    }
    assert len(await records.outbox(ConsentDocumentPublished)) == 1
