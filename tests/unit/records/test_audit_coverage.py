"""Every read and change of clinical data is audited, route by route, from the route table.

Each records route either touches clinical data, and then its call (``CALLS``) names the
audit entries it must leave (the user, the action, the resource type and id), or it is listed
in ``EXEMPT`` with the reason it touches none. Only the entries' actor, action, resource type
and resource id are read: how entries are numbered, chained or sealed is not this test's.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from sqlmodel import select

from services.records.models import AuditEntry
from tests.unit.records.clinical_world import CALLS, World, build_world, route_table
from tests.unit.records.conftest import Records

NO_CLIENT_DATA = "a clinician's own working hours and free times: no client's data"
SERVICE = "the service itself, not records"

EXEMPT: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): SERVICE,
    ("GET", "/readyz"): SERVICE,
    ("GET", "/metrics"): SERVICE,
    ("GET", "/openapi.json"): "the API's description",
    ("GET", "/docs"): "the API's description",
    ("GET", "/docs/oauth2-redirect"): "the API's description",
    ("GET", "/redoc"): "the API's description",
    ("GET", "/fhir/metadata"): "the FHIR API's description",
    ("PUT", "/v1/availability"): NO_CLIENT_DATA,
    ("GET", "/v1/availability"): NO_CLIENT_DATA,
    ("POST", "/v1/availability/exceptions"): NO_CLIENT_DATA,
    ("DELETE", "/v1/availability/exceptions/{exception_id}"): NO_CLIENT_DATA,
    ("GET", "/v1/clinicians/{clinician_id}/slots"): NO_CLIENT_DATA,
    ("GET", "/v1/clinicians/me/jurisdictions"): "where a clinician is licensed: no client's data",
    ("PUT", "/v1/clinicians/me/jurisdictions"): "where a clinician is licensed: no client's data",
    ("GET", "/v1/consent/documents"): "the clinic's consent versions: no client's data",
    ("GET", "/v1/consent/documents/current"): "the clinic's consent document: no client's data",
    ("GET", "/v1/consent/documents/{document_id}"): "a consent document: no client's data",
    ("GET", "/v1/measures"): "the instruments' definitions: no client's data",
    ("GET", "/v1/measures/{instrument}"): "an instrument's definition: no client's data",
}

AUDITED = sorted(key for key, call in CALLS.items() if call.audited)

Entry = tuple[uuid.UUID | None, str, str, str]


async def _entries(records: Records) -> Counter[Entry]:
    async with records.database.unit_of_work() as db:
        rows = await db.exec(
            select(
                AuditEntry.actor_id,
                AuditEntry.action,
                AuditEntry.resource_type,
                AuditEntry.resource_id,
            )
        )
        return Counter(tuple(row) for row in rows.all())  # type: ignore[misc]


def test_every_route_is_audited_or_exempt_with_a_reason(records: Records):
    routes = route_table(records.app)
    audited = set(AUDITED)
    assert not audited & set(EXEMPT), "a route is both audited and exempt"
    unaccounted = routes - audited - set(EXEMPT)
    assert not unaccounted, f"say what these routes audit, or why they need not: {unaccounted}"
    # Every exemption and every call still names a route the app has.
    assert set(EXEMPT) | set(CALLS) <= routes


@pytest.mark.parametrize("route", AUDITED, ids=lambda route: " ".join(route))
async def test_a_clinical_call_leaves_its_audit_entries(records: Records, route: tuple[str, str]):
    world: World = await build_world(records)
    call = CALLS[route]
    path, params, body = call.request(world)
    before = await _entries(records)

    response = await records.http.request(
        route[0], path, params=params, json=body, headers=records.auth(world.user(call.caller))
    )

    assert response.is_success, response.text
    added = await _entries(records) - before
    for expected in call.audited:
        resource_id = (
            response.json()["id"]
            if expected.resource == "response"
            else world.ids[expected.resource]
        )
        entry = (world.user(call.caller), expected.action, expected.resource_type, resource_id)
        assert added[entry] >= 1, (expected, sorted(added, key=str))
