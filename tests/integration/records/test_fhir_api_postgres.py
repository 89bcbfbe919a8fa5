"""The FHIR API's searches on a real PostgreSQL: the same filters, paging and R4 resources as
on SQLite (the status, date and _lastUpdated conditions are SQL both databases must run)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.records.app import migrate
from tests.fixtures.fhir_validator import FhirValidator
from tests.unit.records.clinical_world import build_world
from tests.unit.records.conftest import Records, running_records

pytestmark = pytest.mark.integration


@pytest.fixture
async def records(fresh_database: str) -> AsyncIterator[Records]:
    await asyncio.to_thread(migrate, fresh_database)
    async with running_records(fresh_database, keep_chat_transcripts=True) as running:
        yield running


async def test_searches_page_and_filter_on_postgres(
    records: Records, fhir_validator: FhirValidator
) -> None:
    world = await build_world(records)
    clinician = records.auth(world.user("A"))

    async def search(resource_type: str, **params: Any) -> dict[str, Any]:
        response = await records.http.get(
            f"/fhir/{resource_type}",
            params={"patient": world.ids["a"], **params},
            headers=clinician,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    first = await search("Appointment", _count="2")
    assert first["total"] == 3
    assert [link["relation"] for link in first["link"]] == ["self", "next"]
    assert not fhir_validator.errors(first)
    window = await search("Appointment", date=["ge2030-03-04", "lt2030-03-06"])
    assert window["total"] == 2
    assert (await search("Encounter", status="planned,cancelled"))["total"] == 3
    assert (await search("Goal", **{"lifecycle-status": "proposed"}))["total"] == 1
    ratings = await search("Observation", status="final", date="ge2000")
    assert ratings["total"] == 2
    assert not fhir_validator.errors(ratings)
    latest = max(e["resource"]["meta"]["lastUpdated"] for e in first["entry"])
    assert (await search("CarePlan", _lastUpdated=f"le{latest}"))["total"] == 1
    patients = await records.http.get("/fhir/Patient", headers=clinician)
    assert patients.json()["total"] == 1
