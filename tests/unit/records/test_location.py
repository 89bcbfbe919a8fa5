"""The client's location at session start: who may state and read it, what is valid, the
jurisdiction warning, and the audit entries both leave."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from shared.events.catalog import SessionEnded
from tests.unit.records.clinical_world import location_statement
from tests.unit.records.conftest import T0, Records


async def a_session(records: Records) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    clinician = await records.register("clinician")
    client = await records.register("client")
    return clinician, client, await records.booked_session(clinician, client)


async def put(
    records: Records, session_id: uuid.UUID, user: uuid.UUID, body: dict[str, Any]
) -> httpx.Response:
    return await records.http.put(
        f"/v1/sessions/{session_id}/location", json=body, headers=records.auth(user)
    )


async def get(records: Records, session_id: uuid.UUID, user: uuid.UUID) -> httpx.Response:
    return await records.http.get(f"/v1/sessions/{session_id}/location", headers=records.auth(user))


async def test_the_client_states_it_and_the_clinician_reads_it_with_the_contact(records: Records):
    clinician, client, session_id = await a_session(records)
    assert (await get(records, session_id, clinician)).status_code == 404  # not said yet

    stated = await put(records, session_id, client, location_statement(region="us-ny"))

    assert stated.status_code == 200, stated.text
    assert stated.json()["region"] == "US-NY"
    read = await get(records, session_id, clinician)
    assert read.status_code == 200, read.text
    body = read.json()
    assert (body["country"], body["region"], body["at_home"]) == ("US", "US-NY", True)
    assert body["emergency_contact"] == {
        "name": "Robin",
        "phone": "+12125550100",
        "relationship": "sister",
    }


async def test_only_the_sessions_client_states_and_only_its_clinician_reads(records: Records):
    clinician, client, session_id = await a_session(records)
    other_client = await records.register("client")
    other_clinician = await records.register("clinician")
    admin = await records.register("admin")
    partner_token = records.issuer.issue(
        "pa_loc", "partner", scopes="sessions:read", clinicians=[str(clinician)]
    )

    for user in (clinician, other_client, other_clinician, admin):
        response = await put(records, session_id, user, location_statement())
        assert response.status_code == 403, (user, response.text)
    assert (await put(records, uuid.uuid4(), client, location_statement())).status_code == 404
    assert (await put(records, session_id, client, location_statement())).status_code == 200

    for user in (client, other_client, other_clinician, admin):
        response = await get(records, session_id, user)
        assert response.status_code == 403, (user, response.text)
        assert "Robin" not in response.text
    glass = records.auth(admin) | {"X-Break-Glass-Reason": "Subpoena"}
    refused = await records.http.get(f"/v1/sessions/{session_id}/location", headers=glass)
    assert refused.status_code == 403
    partner = await records.http.get(
        f"/v1/sessions/{session_id}/location",
        headers={"Authorization": f"Bearer {partner_token}"},
    )
    assert partner.status_code == 403
    assert (await get(records, uuid.uuid4(), clinician)).status_code == 404
    anonymous = await records.http.get(f"/v1/sessions/{session_id}/location")
    assert anonymous.status_code == 401


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"country": "XX"}, "country"),
        ({"country": "USA"}, "country"),
        ({"region": "US-ZZ"}, "region"),
        ({"region": "NY"}, "region"),
        ({"country": "CA", "region": "US-NY"}, "body"),
        ({"address": "   "}, "address"),
        ({"at_home": "perhaps"}, "at_home"),
        ({"emergency_contact": {"name": "Robin", "phone": "12"}}, "emergency_contact"),
        ({"emergency_contact": {"name": "Robin", "phone": "+1 000"}}, "body"),
        ({"extra": "field"}, "extra"),
    ],
)
async def test_bad_codes_and_fields_are_422_naming_the_field(
    records: Records, changes: dict[str, Any], field: str
):
    _, client, session_id = await a_session(records)

    response = await put(records, session_id, client, location_statement(**changes))

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "InvalidRequest"
    assert field in body["detail"], body


async def test_an_emergency_contact_is_required_until_one_is_on_file(records: Records):
    clinician, client, session_id = await a_session(records)
    later = await records.booked_session(clinician, client, T0.replace(hour=11))

    first = await put(records, session_id, client, location_statement(emergency_contact=None))
    assert first.status_code == 422, first.text
    assert first.json()["error"] == "NoEmergencyContact"
    assert (await put(records, session_id, client, location_statement())).status_code == 200

    # The next session: the contact on file stands, the place is new.
    again = await put(
        records, later, client, location_statement(emergency_contact=None, at_home=False)
    )
    assert again.status_code == 200, again.text
    assert again.json()["emergency_contact"]["name"] == "Robin"
    assert (await get(records, later, clinician)).json()["at_home"] is False


async def test_the_jurisdiction_warning_follows_the_clinicians_licences(records: Records):
    clinician, client, session_id = await a_session(records)
    await put(records, session_id, client, location_statement(region="US-NY"))

    unset = await get(records, session_id, clinician)
    assert unset.json()["jurisdiction_warning"] is True  # no licences on file: warned
    assert unset.json()["licensed_regions"] == []

    async def licensed(*regions: str) -> httpx.Response:
        return await records.http.put(
            "/v1/clinicians/me/jurisdictions",
            json={"regions": list(regions)},
            headers=records.auth(clinician),
        )

    assert (await licensed("US-NJ", "us-ca")).json()["regions"] == ["US-CA", "US-NJ"]
    assert (await get(records, session_id, clinician)).json()["jurisdiction_warning"] is True
    assert (await licensed("US-NJ", "US-NY")).status_code == 200
    read = (await get(records, session_id, clinician)).json()
    assert read["jurisdiction_warning"] is False
    assert read["licensed_regions"] == ["US-NJ", "US-NY"]
    mine = await records.http.get(
        "/v1/clinicians/me/jurisdictions", headers=records.auth(clinician)
    )
    assert mine.json()["regions"] == ["US-NJ", "US-NY"]

    bad = await licensed("US-NY", "Narnia")
    assert bad.status_code == 422 and "regions.1" in bad.json()["detail"], bad.text
    by_client = await records.http.put(
        "/v1/clinicians/me/jurisdictions", json={"regions": []}, headers=records.auth(client)
    )
    assert by_client.status_code == 403


async def test_the_location_cannot_change_once_the_session_ended(records: Records):
    clinician, client, session_id = await a_session(records)
    await records.deliver(
        SessionEnded(session_id=session_id, ended_by=clinician, reason="ended", at=T0)
    )

    response = await put(records, session_id, client, location_statement())

    assert response.status_code == 409, response.text
    assert response.json()["error"] == "SessionOver"


async def test_statements_and_reads_are_audited_with_ids_only(records: Records):
    clinician, client, session_id = await a_session(records)
    before = len(await records.audit_entries())

    await put(records, session_id, client, location_statement())
    await put(records, session_id, client, location_statement(at_home=False))
    await get(records, session_id, clinician)
    stranger = await records.register("clinician")
    assert (await get(records, session_id, stranger)).status_code == 403  # refused: no entry

    entries = [
        (e.actor_id, e.action, e.resource_type, e.resource_id)
        for e in (await records.audit_entries())[before:]
    ]
    assert entries == [
        (client, "create", "emergency_contact", str(client)),
        (client, "create", "session_location", str(session_id)),
        (client, "update", "emergency_contact", str(client)),
        (client, "update", "session_location", str(session_id)),
        (clinician, "read", "session_location", str(session_id)),
        (clinician, "read", "emergency_contact", str(client)),
    ]


async def test_the_client_reads_the_emergency_contact_on_file_to_confirm_it(records: Records):
    clinician, client, session_id = await a_session(records)

    async def on_file(user: uuid.UUID) -> httpx.Response:
        return await records.http.get(
            "/v1/clients/me/emergency-contact", headers=records.auth(user)
        )

    none = await on_file(client)
    assert none.status_code == 404, none.text
    assert none.json()["error"] == "NoEmergencyContactOnFile"
    await put(records, session_id, client, location_statement())

    read = await on_file(client)
    assert read.status_code == 200, read.text
    assert read.json() == {"name": "Robin", "phone": "+12125550100", "relationship": "sister"}
    assert (await on_file(clinician)).status_code == 403
    entries = [(e.actor_id, e.action, e.resource_type) for e in await records.audit_entries()]
    assert entries[-1] == (client, "read", "emergency_contact")


async def test_the_forms_list_countries_and_each_countrys_regions(records: Records):
    client = await records.register("client")
    auth = records.auth(client)

    countries = (await records.http.get("/v1/places/countries", headers=auth)).json()
    assert {"code": "GB", "name": "United Kingdom"} in countries
    assert [c["name"] for c in countries] == sorted(c["name"] for c in countries)
    regions = await records.http.get("/v1/places/regions", params={"country": "us"}, headers=auth)
    assert regions.status_code == 200, regions.text
    assert {"code": "US-NY", "name": "New York", "type": "State"} in regions.json()
    assert all(r["code"].startswith("US-") for r in regions.json())

    for unknown in ("XX", "USA", "1", ""):
        refused = await records.http.get(
            "/v1/places/regions", params={"country": unknown}, headers=auth
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"] == "UnknownCountry"
        assert "ISO 3166-1" in refused.json()["detail"]
    assert (await records.http.get("/v1/places/countries")).status_code == 401
