"""A records world with data of every kind on file, and one call of every route against it.

Shared by the tests generated from records' route table (partner scopes, audit coverage):
``route_table`` walks the app's routes, so a route added to the API without a ``CALLS``
entry (or an explicit exemption in the test) fails those tests instead of escaping them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from tests.unit.records.conftest import T0, Records

PRIVATE_NOTE = "PRIVATE-NOTE-avoidance-hypothesis"
SHARED_NOTE = "SHARED-NOTE-homework-breathing"
CLINICIAN_UPDATE_NOTE = "CLINICIAN-UPDATE-NOTE-guarded"
CLIENT_UPDATE_NOTE = "CLIENT-UPDATE-NOTE-own-words"
VALUE_STATEMENT = "VALUE-STATEMENT-kindness-to-myself"
GOAL_STATEMENT = "GOAL-STATEMENT-sleep-before-midnight"
LOCATION_ADDRESS = "LOCATION-ADDRESS-14-harbour-lane"
CONSENT_TEXT = "CONSENT-TEXT-video-sessions-and-their-limits"
CONSENT_TYPED_NAME = "Typedname Signer"

# A PHQ-9 answered with item 9 ("thoughts that you would be better off dead...") at 1.
PHQ9_ANSWERS = {f"phq-9.{n}": 2 for n in range(1, 9)} | {"phq-9.9": 1}

# Free slots of the clinician (hours 09:00-17:00 UTC every day, 50-minute slots).
FREE_SLOT = T0 + timedelta(days=2)
OTHER_FREE_SLOT = T0 + timedelta(days=3)


@dataclass
class World:
    """Clinician A cares for client a; client c is registered, not yet anyone's client.

    On file for A and a: three appointments (``appointment``, whose session holds the goal
    updates and check-ins; ``appointment_to_move``, free to reschedule or cancel;
    ``appointment_started``, begun minutes ago), an active and a proposed goal, goal updates
    with note text from both sides, a private and a shared note, a value, and both kinds of
    check-in with low scores (so totals and flags).
    """

    records: Records
    ids: dict[str, str] = field(default_factory=dict)

    def user(self, name: str) -> uuid.UUID:
        return uuid.UUID(self.ids[name])


async def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def build_world(records: Records) -> World:
    world = World(records)
    ids = world.ids
    A = await records.register("clinician")
    a = await records.register("client")
    c = await records.register("client")
    admin = await records.register("admin")
    ids.update(A=str(A), a=str(a), c=str(c), admin=str(admin))
    await records.set_hours(A)
    session = await records.booked_session(A, a)
    moving = await _created(await records.book(A, a, T0 + timedelta(days=1)))
    # Within the booking grace, so it has started and may be marked a no-show.
    started = await _created(
        await records.book(A, a, datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5))
    )
    [appointment] = [
        x
        for x in (await records.http.get("/v1/appointments", headers=records.auth(A))).json()
        if x["session_id"] == str(session)
    ]
    goal = await records.propose_goal(A, a, GOAL_STATEMENT)
    agreed = await records.http.post(f"/v1/goals/{goal['id']}/agreement", headers=records.auth(a))
    assert agreed.status_code == 200, agreed.text
    proposed = await records.propose_goal(A, a, "Walk every morning")
    [relationship] = (
        await records.http.get("/v1/care-relationships", headers=records.auth(A))
    ).json()
    update_ids = []
    for author, text in ((A, CLINICIAN_UPDATE_NOTE), (a, CLIENT_UPDATE_NOTE)):
        update = await _created(
            await records.http.post(
                f"/v1/goals/{goal['id']}/updates",
                json={"session_id": str(session), "progress": 5, "note": text},
                headers=records.auth(author),
            )
        )
        update_ids.append(update["id"])
    note_ids = []
    for visibility, text in (("private", PRIVATE_NOTE), ("shared", SHARED_NOTE)):
        note = await _created(
            await records.http.post(
                "/v1/notes",
                json={"client_id": str(a), "visibility": visibility, "text": text},
                headers=records.auth(A),
            )
        )
        note_ids.append(note["id"])
    value = await _created(
        await records.http.post(
            "/v1/values", json={"statement": VALUE_STATEMENT}, headers=records.auth(a)
        )
    )
    check_in_ids = []
    for check_in in (
        {"kind": "outcome", "individual": 2, "interpersonal": 2, "social": 2, "overall": 2},
        {"kind": "session", "relationship": 3, "goals_and_topics": 3, "approach": 3, "overall": 3},
    ):
        taken = await _created(
            await records.http.post(
                f"/v1/sessions/{session}/check-ins", json=check_in, headers=records.auth(a)
            )
        )
        assert taken["flags"], taken
        check_in_ids.append(taken["id"])
    # Where a said they are for the session, with an emergency contact on file.
    stated = await records.http.put(
        f"/v1/sessions/{session}/location",
        json=location_statement(),
        headers=records.auth(a),
    )
    assert stated.status_code == 200, stated.text
    # Measures: PHQ-9 and GAD-7 assigned every session; a PHQ-9 answered in the session with
    # item 9 above 0, which raised a safety flag; a safety plan written with the clinician.
    assignment_ids = {}
    for instrument in ("phq-9", "gad-7"):
        assigned = await records.http.put(
            f"/v1/clients/{a}/measure-assignments",
            json={"instrument": instrument, "cadence": "every-session"},
            headers=records.auth(A),
        )
        assert assigned.status_code == 200, assigned.text
        assignment_ids[instrument] = assigned.json()["id"]
    phq9 = await _created(
        await records.http.post(
            f"/v1/sessions/{session}/measures",
            json={"instrument": "phq-9", "phase": "waiting", "answers": PHQ9_ANSWERS},
            headers=records.auth(a),
        )
    )
    assert phq9["safety_flag_raised"], phq9
    [flag] = (await records.http.get("/v1/safety-flags", headers=records.auth(A))).json()
    plan = await records.http.put(
        f"/v1/clients/{a}/safety-plan",
        json={"warning_signs": ["Not sleeping"], "professionals_and_crisis_lines": ["111"]},
        headers=records.auth(A),
    )
    assert plan.status_code == 200, plan.text
    ids.update(
        phq9_assignment=assignment_ids["phq-9"],
        gad7_assignment=assignment_ids["gad-7"],
        phq9_response=phq9["id"],
        flag=flag["id"],
        plan_v1=f"{a}/v1",
        plan_v2=f"{a}/v2",
        plan_history=f"{a}/history",
    )
    ids.update(
        session=str(session),
        appointment=appointment["id"],
        appointment_to_move=moving["id"],
        session_to_move=moving["session_id"],
        appointment_started=started["id"],
        goal=goal["id"],
        proposed_goal=proposed["id"],
        relationship=relationship["id"],
        clinician_update=update_ids[0],
        client_update=update_ids[1],
        private_note=note_ids[0],
        shared_note=note_ids[1],
        value=value["id"],
        outcome_check_in=check_in_ids[0],
        session_check_in=check_in_ids[1],
    )
    # The clinic's consent, version 1, signed by a.
    consent = await _created(
        await records.http.post(
            "/v1/consent/documents",
            json={"title": "Telehealth consent", "text": CONSENT_TEXT, "version": 1},
            headers=records.auth(admin),
        )
    )
    signature = await _created(
        await records.http.post(
            "/v1/consent/signatures",
            json=consent_signature(consent["id"], consent["sha256"]),
            headers=records.auth(a),
        )
    )
    ids.update(
        consent_document=consent["id"],
        consent_sha256=consent["sha256"],
        consent_signature=signature["id"],
    )
    return world


def consent_signature(document_id: str, sha256: str) -> dict[str, Any]:
    """A client's signature of version 1 of the clinic's consent."""
    return {
        "document_id": document_id,
        "version": 1,
        "sha256": sha256,
        "typed_name": CONSENT_TYPED_NAME,
    }


def location_statement(**changes: Any) -> dict[str, Any]:
    """A client's statement of where they are (at home in New York), with a contact."""
    return {
        "country": "US",
        "region": "US-NY",
        "at_home": True,
        "address": LOCATION_ADDRESS,
        "emergency_contact": {
            "name": "Robin",
            "phone": "+1 212 555 0100",
            "relationship": "sister",
        },
        **changes,
    }


@dataclass(frozen=True)
class Audited:
    """An audit entry a call must leave: the action, the resource type, and the resource's id
    as a world id's name, or ``"response"`` for the id of what the call created."""

    action: str
    resource_type: str
    resource: str


@dataclass(frozen=True)
class Call:
    """One call of a route by the party who may make it, and the audit entries it leaves."""

    caller: str
    path: str
    params: dict[str, str] | None = None
    body: dict[str, Any] | None = None
    audited: tuple[Audited, ...] = ()

    def request(self, world: World) -> tuple[str, dict[str, str] | None, Any]:
        """The concrete path, query and JSON body for ``world``."""
        return (
            fill_ids(self.path, world.ids),
            fill_ids(self.params, world.ids),
            fill_ids(self.body, world.ids),
        )


def fill_ids(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with each ``{name}`` in its strings replaced by the world id of that name."""
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: fill_ids(v, ids) for k, v in value.items()}
    return value


def _slot(starts_at: datetime) -> dict[str, str]:
    return {
        "starts_at": starts_at.isoformat(),
        "ends_at": (starts_at + timedelta(minutes=50)).isoformat(),
    }


# Every records route, called once by a party who may (a partner app makes the same call).
CALLS: dict[tuple[str, str], Call] = {
    ("POST", "/v1/appointments"): Call(
        "A",
        "/v1/appointments",
        body={"client_id": "{a}", "clinician_id": "{A}", **_slot(FREE_SLOT)},
        audited=(Audited("create", "appointment", "response"),),
    ),
    ("GET", "/v1/appointments"): Call(
        "A", "/v1/appointments", audited=(Audited("read", "appointment", "appointment"),)
    ),
    ("POST", "/v1/appointments/{appointment_id}/reschedule"): Call(
        "A",
        "/v1/appointments/{appointment_to_move}/reschedule",
        body=_slot(OTHER_FREE_SLOT),
        audited=(Audited("update", "appointment", "appointment_to_move"),),
    ),
    ("POST", "/v1/appointments/{appointment_id}/cancel"): Call(
        "A",
        "/v1/appointments/{appointment_to_move}/cancel",
        audited=(Audited("update", "appointment", "appointment_to_move"),),
    ),
    ("POST", "/v1/appointments/{appointment_id}/no-show"): Call(
        "A",
        "/v1/appointments/{appointment_started}/no-show",
        audited=(Audited("update", "appointment", "appointment_started"),),
    ),
    ("PUT", "/v1/availability"): Call(
        "A",
        "/v1/availability",
        body={
            "time_zone": "Europe/Paris",
            "weekly_hours": [{"weekday": 1, "start": "08:00", "end": "12:00"}],
        },
    ),
    ("GET", "/v1/availability"): Call("A", "/v1/availability"),
    ("POST", "/v1/availability/exceptions"): Call(
        "A",
        "/v1/availability/exceptions",
        body={"kind": "extra", "first_day": "2030-03-09", "start": "18:00", "end": "19:00"},
    ),
    ("DELETE", "/v1/availability/exceptions/{exception_id}"): Call(
        # No exception on file: the call is refused, and leaks nothing either way.
        "A",
        f"/v1/availability/exceptions/{uuid.UUID(int=1)}",
    ),
    ("GET", "/v1/clinicians/{clinician_id}/slots"): Call(
        "a",
        "/v1/clinicians/{A}/slots",
        params={"from": T0.isoformat(), "to": (T0 + timedelta(days=7)).isoformat()},
    ),
    ("POST", "/v1/care-relationships"): Call(
        "A",
        "/v1/care-relationships",
        body={"client_id": "{c}"},
        audited=(Audited("create", "care_relationship", "response"),),
    ),
    ("GET", "/v1/care-relationships"): Call(
        "A",
        "/v1/care-relationships",
        audited=(Audited("read", "care_relationship", "relationship"),),
    ),
    ("POST", "/v1/care-relationships/{relationship_id}/discharge"): Call(
        "A",
        "/v1/care-relationships/{relationship}/discharge",
        audited=(Audited("update", "care_relationship", "relationship"),),
    ),
    ("PATCH", "/v1/care-relationships/{relationship_id}/plan"): Call(
        "A",
        "/v1/care-relationships/{relationship}/plan",
        body={"ending_criteria": "Back at work", "plan_status": "ending"},
        audited=(Audited("update", "care_plan", "relationship"),),
    ),
    ("GET", "/v1/care-relationships/{relationship_id}/readiness"): Call(
        "A",
        "/v1/care-relationships/{relationship}/readiness",
        audited=(Audited("read", "care_plan", "relationship"),),
    ),
    ("POST", "/v1/goals"): Call(
        "A",
        "/v1/goals",
        body={"client_id": "{a}", "statement": "Rest on Sundays"},
        audited=(Audited("create", "goal", "response"),),
    ),
    ("POST", "/v1/goals/{goal_id}/agreement"): Call(
        "a",
        "/v1/goals/{proposed_goal}/agreement",
        audited=(Audited("update", "goal", "proposed_goal"),),
    ),
    ("PATCH", "/v1/goals/{goal_id}"): Call(
        "A",
        "/v1/goals/{goal}",
        body={"achievement_status": "improving"},
        audited=(Audited("update", "goal", "goal"),),
    ),
    ("GET", "/v1/goals"): Call(
        "A", "/v1/goals", params={"client_id": "{a}"}, audited=(Audited("read", "goal", "goal"),)
    ),
    ("GET", "/v1/goals/{goal_id}/updates"): Call(
        "A",
        "/v1/goals/{goal}/updates",
        audited=(
            Audited("read", "goal_update", "clinician_update"),
            Audited("read", "goal_update", "client_update"),
        ),
    ),
    ("POST", "/v1/goals/{goal_id}/updates"): Call(
        "A",
        "/v1/goals/{goal}/updates",
        body={"progress": 6, "note": "steadier"},
        audited=(Audited("create", "goal_update", "response"),),
    ),
    ("GET", "/v1/sessions/{session_id}"): Call(
        "A",
        "/v1/sessions/{session}",
        audited=(
            Audited("read", "session_record", "session"),
            Audited("read", "goal_update", "clinician_update"),
        ),
    ),
    ("PUT", "/v1/sessions/{session_id}/location"): Call(
        "a",
        "/v1/sessions/{session}/location",
        body=location_statement(address="Upstairs at the library"),
        audited=(
            Audited("update", "emergency_contact", "a"),
            Audited("update", "session_location", "session"),
        ),
    ),
    ("GET", "/v1/sessions/{session_id}/location"): Call(
        "A",
        "/v1/sessions/{session}/location",
        audited=(
            Audited("read", "session_location", "session"),
            Audited("read", "emergency_contact", "a"),
        ),
    ),
    ("POST", "/v1/consent/documents"): Call(
        "admin",
        "/v1/consent/documents",
        body={"title": "Telehealth consent", "text": CONSENT_TEXT + " (2)", "version": 2},
        audited=(Audited("create", "consent_document", "response"),),
    ),
    ("GET", "/v1/consent/documents"): Call("A", "/v1/consent/documents"),
    ("GET", "/v1/consent/documents/current"): Call("a", "/v1/consent/documents/current"),
    ("GET", "/v1/consent/documents/{document_id}"): Call(
        "a", "/v1/consent/documents/{consent_document}"
    ),
    ("POST", "/v1/consent/signatures"): Call(
        # c, who has not signed yet.
        "c",
        "/v1/consent/signatures",
        body=consent_signature("{consent_document}", "{consent_sha256}"),
        audited=(Audited("create", "consent_signature", "response"),),
    ),
    ("POST", "/v1/consent/withdrawal"): Call(
        "a",
        "/v1/consent/withdrawal",
        audited=(Audited("update", "consent_signature", "consent_signature"),),
    ),
    ("GET", "/v1/clients/{client_id}/consent"): Call(
        "A", "/v1/clients/{a}/consent", audited=(Audited("read", "consent", "a"),)
    ),
    ("GET", "/v1/clinicians/me/jurisdictions"): Call("A", "/v1/clinicians/me/jurisdictions"),
    ("PUT", "/v1/clinicians/me/jurisdictions"): Call(
        "A", "/v1/clinicians/me/jurisdictions", body={"regions": ["US-NY", "US-NJ"]}
    ),
    ("POST", "/v1/sessions/{session_id}/check-ins"): Call(
        # The first session's two check-ins are on file; the client checks in for another.
        "a",
        "/v1/sessions/{session_to_move}/check-ins",
        body={"kind": "outcome", "individual": 6, "interpersonal": 6, "social": 6, "overall": 6},
        audited=(Audited("create", "check_in", "response"),),
    ),
    ("GET", "/v1/sessions/{session_id}/check-ins"): Call(
        "A",
        "/v1/sessions/{session}/check-ins",
        audited=(
            Audited("read", "check_in", "outcome_check_in"),
            Audited("read", "check_in", "session_check_in"),
        ),
    ),
    ("POST", "/v1/notes"): Call(
        "A",
        "/v1/notes",
        body={"client_id": "{a}", "visibility": "private", "text": "more to say"},
        audited=(Audited("create", "note", "response"),),
    ),
    ("GET", "/v1/notes"): Call(
        "A",
        "/v1/notes",
        params={"client_id": "{a}"},
        audited=(
            Audited("read", "note", "private_note"),
            Audited("read", "note", "shared_note"),
        ),
    ),
    ("GET", "/v1/clients/{client_id}/fhir"): Call(
        "A",
        "/v1/clients/{a}/fhir",
        audited=(
            Audited("export", "care_relationship", "relationship"),
            Audited("export", "appointment", "appointment"),
            Audited("export", "session_record", "session"),
            Audited("export", "goal", "goal"),
            Audited("export", "check_in", "outcome_check_in"),
        ),
    ),
    ("GET", "/fhir/{resource_type}"): Call(
        "A",
        "/fhir/Observation",
        params={"patient": "{a}"},
        audited=(
            Audited("read", "goal_update", "clinician_update"),
            Audited("read", "goal_update", "client_update"),
        ),
    ),
    ("GET", "/fhir/{resource_type}/{resource_id}"): Call(
        "A", "/fhir/Goal/{goal}", audited=(Audited("read", "goal", "goal"),)
    ),
    ("GET", "/v1/audit"): Call(
        "admin",
        "/v1/audit",
        params={"resource_id": "{session}"},
        audited=(Audited("read", "audit_log", "session"),),
    ),
    ("GET", "/v1/clients/{client_id}/progress"): Call(
        "A",
        "/v1/clients/{a}/progress",
        audited=(
            Audited("read", "session_record", "session"),
            Audited("read", "goal_update", "client_update"),
            Audited("read", "check_in", "outcome_check_in"),
        ),
    ),
    ("POST", "/v1/values"): Call(
        "a",
        "/v1/values",
        body={"statement": "Patience"},
        audited=(Audited("create", "value", "response"),),
    ),
    ("GET", "/v1/values"): Call(
        "A", "/v1/values", params={"client_id": "{a}"}, audited=(Audited("read", "value", "value"),)
    ),
    ("GET", "/v1/measures"): Call("a", "/v1/measures"),
    ("GET", "/v1/measures/{instrument}"): Call("a", "/v1/measures/phq-9"),
    ("PUT", "/v1/clients/{client_id}/measure-assignments"): Call(
        "A",
        "/v1/clients/{a}/measure-assignments",
        body={"instrument": "gad-7", "cadence": "every-n-sessions", "every_n": 2},
        audited=(Audited("create", "measure_assignment", "response"),),
    ),
    ("GET", "/v1/clients/{client_id}/measure-assignments"): Call(
        "A",
        "/v1/clients/{a}/measure-assignments",
        audited=(Audited("read", "measure_assignment", "phq9_assignment"),),
    ),
    ("GET", "/v1/sessions/{session_id}/measures"): Call(
        "a",
        "/v1/sessions/{session}/measures",
        audited=(Audited("read", "measure_assignment", "gad7_assignment"),),
    ),
    ("POST", "/v1/sessions/{session_id}/measures"): Call(
        "a",
        "/v1/sessions/{session}/measures",
        body={
            "instrument": "gad-7",
            "phase": "after",
            "answers": {f"gad-7.{n}": 1 for n in range(1, 8)},
        },
        audited=(Audited("create", "measure_response", "response"),),
    ),
    ("GET", "/v1/clients/{client_id}/measures"): Call(
        "A",
        "/v1/clients/{a}/measures",
        audited=(Audited("read", "measure_response", "phq9_response"),),
    ),
    ("GET", "/v1/clients/{client_id}/measures/summary"): Call(
        "A",
        "/v1/clients/{a}/measures/summary",
        audited=(Audited("read", "measure_response", "phq9_response"),),
    ),
    ("GET", "/v1/clinicians/me/caseload"): Call(
        "A", "/v1/clinicians/me/caseload", audited=(Audited("read", "caseload", "A"),)
    ),
    ("GET", "/v1/safety-flags"): Call(
        "A", "/v1/safety-flags", audited=(Audited("read", "safety_flag", "flag"),)
    ),
    ("POST", "/v1/safety-flags/{flag_id}/acknowledgement"): Call(
        "A",
        "/v1/safety-flags/{flag}/acknowledgement",
        body={"action": "contacted"},
        audited=(Audited("acknowledge", "safety_flag", "flag"),),
    ),
    ("GET", "/v1/clients/{client_id}/safety-flags"): Call(
        "A", "/v1/clients/{a}/safety-flags", audited=(Audited("read", "safety_flag", "flag"),)
    ),
    ("PUT", "/v1/clients/{client_id}/safety-plan"): Call(
        "a",
        "/v1/clients/{a}/safety-plan",
        body={"warning_signs": ["Not sleeping", "Staying in"]},
        audited=(Audited("create", "safety_plan", "plan_v2"),),
    ),
    ("GET", "/v1/clients/{client_id}/safety-plan"): Call(
        "a", "/v1/clients/{a}/safety-plan", audited=(Audited("read", "safety_plan", "plan_v1"),)
    ),
    ("GET", "/v1/clients/{client_id}/safety-plan/versions"): Call(
        "A",
        "/v1/clients/{a}/safety-plan/versions",
        audited=(Audited("read", "safety_plan", "plan_history"),),
    ),
}


def route_table(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers, walked from its routes (HEAD left out)."""
    found: set[tuple[str, str]] = set()
    for path, methods in _walk(app.routes):
        found.update((method, path) for method in methods if method != "HEAD")
    # The walk must see at least what the OpenAPI document lists, or it missed a router.
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert documented <= found, documented - found
    return found


def _walk(routes: Iterable[Any]) -> Iterator[tuple[str, set[str]]]:
    for route in routes:
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from _walk(included.routes)
        elif hasattr(route, "methods") and hasattr(route, "path"):
            yield route.path, set(route.methods or ())
        elif hasattr(route, "routes"):
            yield from _walk(route.routes)
