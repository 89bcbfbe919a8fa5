"""Object-level authorization, generated from records' route table: every route whose path
names an object (a client, an appointment, a session, a goal, ...) is called with the ids of
clinician A's and client a's objects by principals who are no party to them (another clinician,
another client) and must answer 403 or 404, never data. A route added without a ``CALLS`` entry
fails here (and in the audit and partner-scope tests), so it cannot escape the walk.

The call is the one the rightful party makes (same valid body and query), so a refusal is the
authorization check's, not the request validation's: a 422 fails the test.
"""

from __future__ import annotations

import re

from tests.unit.records.clinical_world import (
    CALLS,
    CLINICIAN_UPDATE_NOTE,
    LOCATION_ADDRESS,
    PRIVATE_NOTE,
    build_world,
    route_table,
)
from tests.unit.records.conftest import Records

PATH_ID = re.compile(r"\{(\w+)\}")
REFUSED = {403, 404}
SECRETS = (PRIVATE_NOTE, CLINICIAN_UPDATE_NOTE, LOCATION_ADDRESS)

# Routes whose path id names no principal's object: the clinic's own documents and catalogues.
NOT_AN_OBJECT = {
    ("GET", "/v1/measures/{instrument}"): "a published instrument's definition (PHQ-9, ...)",
    ("GET", "/v1/consent/documents/{document_id}"): "the clinic's published consent form, "
    "which every signed-in user reads before signing",
}
# Routes that answer with the caller's own part of a client's record (a former clinician keeps
# seeing what they wrote): a stranger gets 200 with nothing in it, never the other party's data.
OWN_PART_ONLY = {
    ("GET", "/v1/clients/{client_id}/measure-assignments"): "the calling clinician's assignments",
    ("GET", "/v1/clients/{client_id}/progress"): "sessions with the calling clinician",
    ("GET", "/v1/clients/{client_id}/safety-flags"): "flags raised to the calling clinician",
    ("GET", "/fhir/{resource_type}"): "a search (the path is a type), filtered by the caller",
}
# Refusals that name the missing relationship as the request's invalid field.
REFUSED_AS_INVALID = {
    ("PUT", "/v1/clients/{client_id}/measure-assignments"): "NoCareRelationship",
}


def _empty(body: object) -> bool:
    """Nothing in it: an empty list, page or FHIR search set."""
    if body == []:
        return True
    if isinstance(body, dict):
        if body.get("resourceType") == "Bundle":
            return body.get("total") == 0 and not body.get("entry")
        return body.get("items") == []
    return False


def _outcome(route: tuple[str, str], status: int, body: object) -> str | None:
    """Why this answer to a stranger is wrong, or None."""
    if route in NOT_AN_OBJECT:
        return None if status == 200 else f"{status} for a public document"
    if route in OWN_PART_ONLY:
        return None if status in REFUSED or (status == 200 and _empty(body)) else "data"
    if route in REFUSED_AS_INVALID and status == 422:
        error = body.get("error") if isinstance(body, dict) else None
        return None if error == REFUSED_AS_INVALID[route] else f"422 {error}"
    return None if status in REFUSED else str(status)


def _object_routes(records: Records) -> list[tuple[str, str]]:
    return sorted(route for route in route_table(records.app) if PATH_ID.search(route[1]))


def test_every_object_route_has_a_call_to_replay(records: Records) -> None:
    missing = [route for route in _object_routes(records) if route not in CALLS]
    assert not missing, f"add a CALLS entry for these routes: {missing}"
    listed = set(NOT_AN_OBJECT) | set(OWN_PART_ONLY) | set(REFUSED_AS_INVALID)
    assert listed <= set(_object_routes(records)), "an exemption names a route that is gone"
    assert len(_object_routes(records)) >= 20  # the walk found the API, not an empty table


async def test_no_route_serves_another_principals_objects(records: Records) -> None:
    world = await build_world(records)
    strangers = {
        "another clinician": await records.register("clinician"),
        "another client": await records.register("client"),
    }
    leaks: list[str] = []
    checked = 0
    for method, template in _object_routes(records):
        call = CALLS[(method, template)]
        path, params, body = call.request(world)
        for who, stranger in strangers.items():
            response = await records.http.request(
                method, path, params=params, json=body, headers=records.auth(stranger)
            )
            checked += 1
            answer = response.json() if response.content else None
            wrong = _outcome((method, template), response.status_code, answer)
            if wrong is not None:
                leaks.append(f"{who}: {method} {template} -> {response.status_code} ({wrong})")
            elif any(secret in response.text for secret in SECRETS):
                leaks.append(f"{who}: {method} {template} -> clinical text in the refusal")
    assert not leaks, "\n".join(leaks)
    assert checked == 2 * len(_object_routes(records))
