"""Every records route × every partner scope set: a partner app sees what its scopes grant,
and nothing else, with data of every kind on file.

The partner app is granted access by the clinician whose records are on file (or only by
another clinician), and holds no scope, each scope alone, or all of them. It makes every
call of ``CALLS`` (one per route of the route table), and each answer is searched for every
kind of data: the kinds found must be exactly those its scopes grant (``GRANTED_BY``).
Notes, values, check-ins, goal-update note text, availability and the audit log are granted
by no scope; and the test also fails when a scope stops showing what it grants.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import col, select

from services.records.models import AuditEntry
from shared.scopes import PartnerScope
from tests.unit.records.clinical_world import (
    CALLS,
    CHAT_TEXT,
    CLIENT_UPDATE_NOTE,
    CLINICIAN_UPDATE_NOTE,
    GOAL_STATEMENT,
    LOCATION_ADDRESS,
    PRIVATE_NOTE,
    SHARED_NOTE,
    VALUE_STATEMENT,
    World,
    build_world,
    route_table,
)
from tests.unit.records.conftest import Records

APP = "pa_scoped"

# Routes of the service itself, which hold no records data.
NOT_RECORDS = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/redoc"),
    # The FHIR CapabilityStatement: what the API offers, no records.
    ("GET", "/fhir/metadata"),
}

# The kinds of data a partner may be shown, and the scopes that show each.
GRANTED_BY: dict[str, frozenset[PartnerScope]] = {
    "appointment": frozenset(
        {PartnerScope.APPOINTMENTS_READ, PartnerScope.APPOINTMENTS_WRITE, PartnerScope.FHIR_READ}
    ),
    "free slots": frozenset({PartnerScope.APPOINTMENTS_READ}),
    "session record": frozenset({PartnerScope.SESSIONS_READ, PartnerScope.FHIR_READ}),
    "goal": frozenset({PartnerScope.GOALS_READ, PartnerScope.FHIR_READ}),
    "goal rating": frozenset({PartnerScope.GOALS_READ}),
    "care plan": frozenset({PartnerScope.FHIR_READ}),
    "check-in": frozenset(),
    "note": frozenset(),
    "value": frozenset(),
    "goal-update note": frozenset(),
    "availability": frozenset(),
    "audit log": frozenset(),
    "client's location": frozenset(),
    "chat transcript": frozenset(),
}

SCOPE_SETS: dict[str, frozenset[PartnerScope]] = {
    "no scope": frozenset(),
    **{scope.value: frozenset({scope}) for scope in PartnerScope},
    "every scope": frozenset(PartnerScope),
}
# Whose access the app was granted: the clinician whose records are on file, or only
# another clinician (every scope then shows nothing of these records).
GRANTORS = ("their clinician", "another clinician")


def _granted(scopes: frozenset[PartnerScope]) -> set[str]:
    return {kind for kind, granting in GRANTED_BY.items() if granting & scopes}


def _nodes(value: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object in ``value``, nested ones included."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _nodes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _nodes(item)


def kinds_of_data(text: str, world: World) -> set[str]:
    """The kinds of data in an answer, told by their text, their ids and their fields."""
    ids = world.ids
    found = set()
    searched = {
        "note": (PRIVATE_NOTE, SHARED_NOTE, ids["private_note"], ids["shared_note"]),
        "value": (VALUE_STATEMENT, ids["value"]),
        "goal-update note": (CLINICIAN_UPDATE_NOTE, CLIENT_UPDATE_NOTE),
        "check-in": (ids["outcome_check_in"], ids["session_check_in"]),
        "goal": (GOAL_STATEMENT,),
        "client's location": (LOCATION_ADDRESS, "+12125550100"),
        "chat transcript": (CHAT_TEXT,),
        "goal rating": (ids["clinician_update"], ids["client_update"]),
    }
    for kind, needles in searched.items():
        if any(needle in text for needle in needles):
            found.add(kind)
    try:
        body = json.loads(text)
    except ValueError:
        return found
    resource_kinds = {
        "Appointment": "appointment",
        "Encounter": "session record",
        "Goal": "goal",
        "CarePlan": "care plan",
        "QuestionnaireResponse": "check-in",
    }
    for node in _nodes(body):
        keys = set(node)
        if node.get("resourceType") in resource_kinds:
            found.add(resource_kinds[node["resourceType"]])
        if "booked_by" in keys:
            found.add("appointment")
        if "slots" in keys:
            found.add("free slots")
        if {"attendees", "duration_seconds"} <= keys:
            found.add("session record")
        if {"statement", "agreed_by"} <= keys:
            found.add("goal")
        if "progress" in keys or ("goal_id" in keys and {"clinician", "client"} & keys):
            found.add("goal rating")
        if "started_via" in keys:
            found.add("care plan")
        if {"items", "total"} <= keys or node.get("flags"):
            found.add("check-in")
        if any(node.get(k) is not None for k in ("outcome_total", "session_total")):
            found.add("check-in")
        if "visibility" in keys:
            found.add("note")
        if "supersedes_id" in keys:
            found.add("value")
        if "weekly_hours" in keys:
            found.add("availability")
        if {"at_home", "region"} & keys:
            found.add("client's location")
        if {"sender_role", "sent_at"} <= keys:
            found.add("chat transcript")
        if "actor_role" in keys:
            found.add("audit log")
        if node.get("note"):
            found.add("goal-update note")
    return found


async def _audited_for_app(records: Records) -> int:
    async with records.database.unit_of_work() as db:
        rows = await db.exec(
            select(AuditEntry.actor_role).where(col(AuditEntry.actor_subject) == APP)
        )
        roles = rows.all()
    assert set(roles) <= {"partner"}
    return len(roles)


def test_every_route_is_called_or_holds_no_records_data(records: Records):
    routes = route_table(records.app)
    missing = routes - set(CALLS) - NOT_RECORDS
    assert not missing, f"add a call of these routes to CALLS: {missing}"
    assert set(GRANTED_BY) >= {"check-in", "note", "value", "goal-update note"}


@pytest.mark.parametrize("grantor", GRANTORS)
@pytest.mark.parametrize("scopes", SCOPE_SETS.values(), ids=SCOPE_SETS.keys())
async def test_a_partner_sees_what_its_scopes_grant_and_nothing_else(
    records: Records, scopes: frozenset[PartnerScope], grantor: str
):
    world = await build_world(records)
    clinician = world.ids["A"] if grantor == "their clinician" else str(uuid.uuid4())
    token = records.issuer.issue(
        APP, "partner", scopes=" ".join(sorted(scopes)), clinicians=[clinician]
    )
    partner = {"Authorization": f"Bearer {token}"}
    granted = _granted(scopes) if grantor == "their clinician" else set()
    seen: dict[str, set[str]] = {}
    leaks = []

    for (method, _), call in CALLS.items():
        path, params, body = call.request(world)
        audited_before = await _audited_for_app(records)
        response = await records.http.request(
            method, path, params=params, json=body, headers=partner
        )
        assert response.status_code < 500, (method, path, response.text)
        kinds = kinds_of_data(response.text, world)
        if kinds:
            # What a partner was shown is audited under its client id.
            assert await _audited_for_app(records) > audited_before, (method, path)
        if not response.is_success:
            # A refusal says why, and shows nothing of the records.
            assert response.status_code in (403, 404, 409, 422), (method, path, response.text)
        if kinds - granted:
            leaks.append((method, path, response.status_code, sorted(kinds - granted)))
        for kind in kinds:
            seen.setdefault(kind, set()).add(f"{method} {path}")

    assert not leaks, leaks
    # And each scope still shows what it grants, somewhere.
    assert set(seen) == granted, {"seen": seen, "granted": granted}
