"""Every records endpoint against every kind of caller, and no private text to anyone else.

The world: clinician A cares for client a, clinician B for client b. Each endpoint is called
by every actor on A-and-a's records; the one cell per row that changes state the most runs
last, so the denied callers all meet the same state. Every response to anyone but clinician
A (and an admin who broke the glass, who then sees what A sees) is searched for A's private
note and A's goal-update note: finding one fails the test.

Partner apps are refused here as they are anywhere without a scope; what each scope shows
them is the generated test in ``test_partner_scopes.py`` (every route × every scope set).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from tests.unit.records.clinical_world import LOCATION_ADDRESS, fill_ids, location_statement
from tests.unit.records.conftest import T0, Records

PRIVATE_NOTE = "PRIVATE-NOTE-avoidance-hypothesis"
CLINICIAN_UPDATE_NOTE = "CLINICIAN-UPDATE-NOTE-guarded"

ACTORS = (
    "anonymous",
    "admin",
    "admin_break_glass",
    "partner",
    "client_other",
    "clinician_other",
    "client_own",
    "clinician_own",
)


@dataclass
class World:
    records: Records
    ids: dict[str, str]

    def headers(self, actor: str) -> dict[str, str]:
        issuer = self.records.issuer
        if actor == "anonymous":
            return {}
        if actor.startswith("admin"):
            headers = self.records.auth(uuid.UUID(self.ids["admin"]), "admin")
            if actor == "admin_break_glass":
                headers["X-Break-Glass-Reason"] = "Subpoena 2030-0042"
            return headers
        if actor == "partner":
            token = issuer.issue("pa_matrix", "partner", scopes="", clinicians=[self.ids["A"]])
            return {"Authorization": f"Bearer {token}"}
        user = {
            "client_own": "a",
            "client_other": "b",
            "clinician_own": "A",
            "clinician_other": "B",
        }[actor]
        return self.records.auth(uuid.UUID(self.ids[user]))


async def _build(records: Records) -> World:
    A = await records.register("clinician")
    B = await records.register("clinician")
    a = await records.register("client")
    b = await records.register("client")
    admin = await records.register("admin")
    session_a = await records.booked_session(A, a)
    await records.booked_session(B, b)
    for clinician in (A, B):
        await records.set_hours(clinician)
    exception = await records.http.post(
        "/v1/availability/exceptions",
        json={"kind": "off", "first_day": "2030-03-08"},
        headers=records.auth(A),
    )
    assert exception.status_code == 201, exception.text
    goal = await records.set_goal(A, a)
    proposed = await records.propose_goal(A, a, "Walk every morning")
    [relationship] = (
        await records.http.get("/v1/care-relationships", headers=records.auth(A))
    ).json()
    for author, note in ((A, CLINICIAN_UPDATE_NOTE), (a, "client's own words")):
        response = await records.http.post(
            f"/v1/goals/{goal['id']}/updates",
            json={"session_id": str(session_a), "progress": 5, "note": note},
            headers=records.auth(author),
        )
        assert response.status_code == 201
    for visibility, text in (("private", PRIVATE_NOTE), ("shared", "Shared homework")):
        response = await records.http.post(
            "/v1/notes",
            json={"client_id": str(a), "visibility": visibility, "text": text},
            headers=records.auth(A),
        )
        assert response.status_code == 201
    response = await records.http.post(
        f"/v1/sessions/{session_a}/check-ins",
        json={"kind": "outcome", "individual": 5, "interpersonal": 5, "social": 5, "overall": 5},
        headers=records.auth(a),
    )
    assert response.status_code == 201
    stated = await records.http.put(
        f"/v1/sessions/{session_a}/location", json=location_statement(), headers=records.auth(a)
    )
    assert stated.status_code == 200, stated.text
    [appointment] = [
        x
        for x in (await records.http.get("/v1/appointments", headers=records.auth(A))).json()
        if x["session_id"] == str(session_a)
    ]
    ids = {
        "appointment": appointment["id"],
        "A": str(A),
        "B": str(B),
        "a": str(a),
        "b": str(b),
        "admin": str(admin),
        "session": str(session_a),
        "goal": goal["id"],
        "proposed_goal": proposed["id"],
        "relationship": relationship["id"],
        "exception": exception.json()["id"],
    }
    return World(records, ids)


NOT_PARTY = {
    "admin": 403,
    "admin_break_glass": 403,
    "partner": 403,
    "anonymous": 401,
}
# Reads an admin may make with a break-glass reason (audited and published).
GLASS = {"admin_break_glass": 200}
# Lists answer everyone in a role with their own rows; "own_only" rows are checked for A's ids.
OWN_ONLY = 200


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    path: str
    expected: dict[str, int]
    body: dict[str, Any] | None = None
    params: dict[str, str] | None = None
    # Actor whose call changes state; it runs last.
    last: str = "clinician_own"


FUTURE = (T0 + timedelta(days=2)).isoformat()
FUTURE_END = (T0 + timedelta(days=2, minutes=50)).isoformat()

ROWS = [
    Row(
        "book appointment",
        "POST",
        "/v1/appointments",
        # a books A's free slot for a first; A, who may book it too, then finds it taken
        # (409). B books only B's own time.
        {
            **NOT_PARTY,
            "client_own": 201,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 409,
        },
        body={
            "client_id": "{a}",
            "clinician_id": "{A}",
            "starts_at": FUTURE,
            "ends_at": FUTURE_END,
        },
    ),
    Row(
        "book appointment without naming the clinician",
        "POST",
        "/v1/appointments",
        # Until identity's invitations exist, any clinician may take on a registered client
        # by booking (that starts their own relationship; it opens nothing of A's).
        {
            **NOT_PARTY,
            "client_own": 422,
            "client_other": 403,
            "clinician_other": 201,
            "clinician_own": 201,
        },
        body={"client_id": "{a}", "starts_at": FUTURE, "ends_at": FUTURE_END},
    ),
    Row(
        "list appointments",
        "GET",
        "/v1/appointments",
        {
            **NOT_PARTY,
            "client_own": 200,
            "client_other": OWN_ONLY,
            "clinician_other": OWN_ONLY,
            "clinician_own": 200,
        },
    ),
    Row(
        "reschedule appointment",
        "POST",
        "/v1/appointments/{appointment}/reschedule",
        {
            **NOT_PARTY,
            "client_own": 200,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 200,
        },
        body={"starts_at": FUTURE, "ends_at": FUTURE_END},
    ),
    Row(
        "cancel appointment",
        "POST",
        "/v1/appointments/{appointment}/cancel",
        # A cancels first; a then finds it already cancelled.
        {
            **NOT_PARTY,
            "client_own": 409,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 200,
        },
        last="client_own",
    ),
    Row(
        "free slots",
        "GET",
        "/v1/clinicians/{A}/slots",
        {
            **NOT_PARTY,
            "client_own": 200,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 200,
        },
    ),
    Row(
        "set availability",
        "PUT",
        "/v1/availability",
        # Each clinician sets only their own hours.
        {
            **NOT_PARTY,
            "client_own": 403,
            "client_other": 403,
            "clinician_other": 200,
            "clinician_own": 200,
        },
        body={
            "time_zone": "Europe/Paris",
            "weekly_hours": [{"weekday": 1, "start": "08:00", "end": "12:00"}],
        },
    ),
    Row(
        "read availability",
        "GET",
        "/v1/availability",
        {
            **NOT_PARTY,
            "client_own": 403,
            "client_other": 403,
            "clinician_other": OWN_ONLY,
            "clinician_own": 200,
        },
    ),
    Row(
        "add availability exception",
        "POST",
        "/v1/availability/exceptions",
        {
            **NOT_PARTY,
            "client_own": 403,
            "client_other": 403,
            "clinician_other": 201,
            "clinician_own": 201,
        },
        body={"kind": "extra", "first_day": "2030-03-09", "start": "10:00", "end": "12:00"},
    ),
    Row(
        "remove availability exception",
        "DELETE",
        "/v1/availability/exceptions/{exception}",
        {
            **NOT_PARTY,
            "client_own": 403,
            "client_other": 403,
            "clinician_other": 404,
            "clinician_own": 204,
        },
    ),
    Row(
        "mark no-show",
        "POST",
        "/v1/appointments/{appointment}/no-show",
        # Allowed for the clinician, but the appointment has not started yet.
        {
            **NOT_PARTY,
            "client_own": 403,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 409,
        },
    ),
    Row(
        "read session record",
        "GET",
        "/v1/sessions/{session}",
        {
            **NOT_PARTY,
            **GLASS,
            "client_own": 200,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 200,
        },
    ),
    Row(
        "start care relationship",
        "POST",
        "/v1/care-relationships",
        {
            **NOT_PARTY,
            "client_own": 403,
            "client_other": 403,
            "clinician_other": 201,
            "clinician_own": 200,
        },
        body={"client_id": "{a}"},
    ),
    Row(
        "list care relationships",
        "GET",
        "/v1/care-relationships",
        {
            **NOT_PARTY,
            "client_own": 200,
            "client_other": OWN_ONLY,
            "clinician_other": OWN_ONLY,
            "clinician_own": 200,
        },
    ),
    Row(
        "discharge",
        "POST",
        "/v1/care-relationships/{relationship}/discharge",
        {
            **NOT_PARTY,
            "client_own": 403,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 200,
        },
    ),
    Row(
        "change plan",
        "PATCH",
        "/v1/care-relationships/{relationship}/plan",
        {
            **NOT_PARTY,
            "client_own": 403,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 200,
        },
        body={"ending_criteria": "Back at work", "plan_status": "ending"},
    ),
    Row(
        "plan readiness",
        "GET",
        "/v1/care-relationships/{relationship}/readiness",
        {
            **NOT_PARTY,
            "client_own": 200,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 200,
        },
    ),
    Row(
        "query audit log",
        "GET",
        "/v1/audit",
        {
            **NOT_PARTY,
            "admin": 200,
            "admin_break_glass": 200,
            "client_own": 403,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 403,
        },
    ),
    Row(
        "propose goal",
        "POST",
        "/v1/goals",
        {
            **NOT_PARTY,
            "client_own": 201,
            "client_other": 422,
            "clinician_other": 422,
            "clinician_own": 201,
        },
        body={"client_id": "{a}", "clinician_id": "{A}", "statement": "Rest"},
    ),
    Row(
        "agree to goal",
        "POST",
        "/v1/goals/{proposed_goal}/agreement",
        {
            **NOT_PARTY,
            "client_own": 200,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 409,
        },
        last="client_own",
    ),
    Row(
        "change goal status",
        "PATCH",
        "/v1/goals/{goal}",
        {
            **NOT_PARTY,
            "client_own": 403,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 200,
        },
        body={"achievement_status": "improving"},
    ),
    Row(
        "list goals",
        "GET",
        "/v1/goals",
        {
            **NOT_PARTY,
            "client_own": 200,
            "client_other": OWN_ONLY,
            "clinician_other": OWN_ONLY,
            "clinician_own": 200,
        },
    ),
    Row(
        "list a client's goals",
        "GET",
        "/v1/goals",
        {
            **NOT_PARTY,
            "client_own": 200,
            "client_other": 403,
            "clinician_other": OWN_ONLY,
            "clinician_own": 200,
        },
        params={"client_id": "{a}"},
    ),
    Row(
        "record goal update",
        "POST",
        "/v1/goals/{goal}/updates",
        {
            **NOT_PARTY,
            "client_own": 201,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 201,
        },
        body={"progress": 6, "note": "ok"},
    ),
    Row(
        "goal history",
        "GET",
        "/v1/goals/{goal}/updates",
        {
            **NOT_PARTY,
            **GLASS,
            "client_own": 200,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 200,
        },
    ),
    Row(
        "submit check-in",
        "POST",
        "/v1/sessions/{session}/check-ins",
        {
            **NOT_PARTY,
            "client_own": 201,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 403,
        },
        body={
            "kind": "session",
            "relationship": 9,
            "goals_and_topics": 9,
            "approach": 9,
            "overall": 9,
        },
        last="client_own",
    ),
    Row(
        "state the client's location",
        "PUT",
        "/v1/sessions/{session}/location",
        # The session's client alone: not even its clinician states it for them.
        {
            **NOT_PARTY,
            "client_own": 200,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 403,
        },
        body=location_statement(at_home=False),
        last="client_own",
    ),
    Row(
        "read the client's location",
        "GET",
        "/v1/sessions/{session}/location",
        # The session's clinician alone: no break-glass, and the client reads it back only
        # in the answer to stating it.
        {
            **NOT_PARTY,
            "client_own": 403,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 200,
        },
    ),
    Row(
        "list check-ins",
        "GET",
        "/v1/sessions/{session}/check-ins",
        {
            **NOT_PARTY,
            **GLASS,
            "client_own": 200,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 200,
        },
    ),
    Row(
        "write note",
        "POST",
        "/v1/notes",
        {
            **NOT_PARTY,
            "client_own": 403,
            "client_other": 403,
            "clinician_other": 422,
            "clinician_own": 201,
        },
        body={"client_id": "{a}", "visibility": "private", "text": "more"},
    ),
    Row(
        "list notes on a client",
        "GET",
        "/v1/notes",
        {
            **NOT_PARTY,
            **GLASS,
            "client_own": 200,
            "client_other": 403,
            "clinician_other": OWN_ONLY,
            "clinician_own": 200,
        },
        params={"client_id": "{a}"},
    ),
    Row(
        "list own notes",
        "GET",
        "/v1/notes",
        {
            **NOT_PARTY,
            "client_own": 200,
            "client_other": OWN_ONLY,
            "clinician_other": 422,
            "clinician_own": 422,
        },
    ),
    Row(
        "client progress",
        "GET",
        "/v1/clients/{a}/progress",
        {
            **NOT_PARTY,
            "client_own": 200,
            "client_other": 403,
            "clinician_other": OWN_ONLY,
            "clinician_own": 200,
        },
    ),
    Row(
        "add value",
        "POST",
        "/v1/values",
        {
            **NOT_PARTY,
            "client_own": 201,
            "client_other": 201,  # their own value; it touches nothing of a's
            "clinician_other": 403,
            "clinician_own": 403,
        },
        body={"statement": "Kindness"},
        last="client_own",
    ),
    Row(
        "list a client's values",
        "GET",
        "/v1/values",
        {
            **NOT_PARTY,
            "client_own": 200,
            "client_other": 403,
            "clinician_other": 422,
            "clinician_own": 200,
        },
        params={"client_id": "{a}"},
    ),
    Row(
        "FHIR API search",
        "GET",
        "/fhir/Goal",
        {
            **NOT_PARTY,
            "client_own": 403,
            "client_other": 403,
            "clinician_other": OWN_ONLY,
            "clinician_own": 200,
        },
        params={"patient": "{a}"},
    ),
    Row(
        "FHIR API read",
        "GET",
        "/fhir/Goal/{goal}",
        {
            **NOT_PARTY,
            "client_own": 403,
            "client_other": 403,
            "clinician_other": 404,
            "clinician_own": 200,
        },
    ),
    Row(
        "export FHIR",
        "GET",
        "/v1/clients/{a}/fhir",
        {
            **NOT_PARTY,
            **GLASS,
            "client_own": 403,
            "client_other": 403,
            "clinician_other": 403,
            "clinician_own": 200,
        },
    ),
]


def test_every_row_covers_every_actor():
    for row in ROWS:
        assert set(row.expected) == set(ACTORS), row.name


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
async def test_access_matrix(records: Records, row: Row):
    world = await _build(records)
    ids = world.ids
    a_only = (ids["session"], ids["goal"], ids["relationship"], ids["appointment"])
    order = [actor for actor in ACTORS if actor != row.last] + [row.last]
    for actor in order:
        response = await records.http.request(
            row.method,
            fill_ids(row.path, ids),
            json=fill_ids(row.body, ids),
            params=fill_ids(row.params, ids),
            headers=world.headers(actor),
        )
        expected = row.expected[actor]
        assert response.status_code == expected, (actor, response.text)
        if actor not in ("clinician_own", "admin_break_glass"):
            assert PRIVATE_NOTE not in response.text, actor
            assert CLINICIAN_UPDATE_NOTE not in response.text, actor
        if actor not in ("clinician_own", "client_own"):
            # Where the client is goes to their clinician, and to no one else (no admin).
            assert LOCATION_ADDRESS not in response.text, actor
        # The audit log holds ids (never text), so admins see A's ids there.
        allowed = ("clinician_own", "client_own", "admin_break_glass", "admin")
        if actor not in allowed and response.status_code < 300:
            for resource_id in a_only:
                assert resource_id not in response.text, (actor, resource_id)
