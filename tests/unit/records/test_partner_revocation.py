"""A revoked partner grant takes effect at once: records hears ``partner.access_revoked`` and
refuses partner tokens issued before it for that clinician's data, although their
``clinicians`` claim still names the clinician. A re-grant lets in tokens issued after it."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import select

from services.records.models import PartnerGrantRevocation
from shared.events.catalog import PartnerAccessGranted, PartnerAccessRevoked
from tests.unit.records.conftest import T0, Records

APP = "pa_ehr"
SCOPES = "appointments:read appointments:write sessions:read goals:read fhir:read"


def _partner(
    records: Records, clinicians: list[uuid.UUID], *, app: str = APP, **claims: Any
) -> dict[str, str]:
    token = records.issuer.issue(
        app, "partner", scopes=SCOPES, clinicians=[str(c) for c in clinicians], **claims
    )
    return {"Authorization": f"Bearer {token}"}


async def _revoke(records: Records, clinician: uuid.UUID, at: datetime, *, app: str = APP) -> None:
    await records.deliver(
        PartnerAccessRevoked(client_id=app, clinician_id=clinician, revoked_at=at),
        source="/rapport/identity",
    )


async def _grant(records: Records, clinician: uuid.UUID, at: datetime) -> None:
    await records.deliver(
        PartnerAccessGranted(client_id=APP, clinician_id=clinician, granted_at=at),
        source="/rapport/identity",
    )


async def _world(records: Records) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID, dict[str, Any]]:
    clinician = await records.register("clinician")
    client = await records.register("client")
    session = await records.booked_session(clinician, client)
    goal = await records.set_goal(clinician, client)
    await records.set_hours(clinician)
    return clinician, client, session, goal


async def _what_the_partner_sees(
    records: Records,
    partner: dict[str, str],
    clinician: uuid.UUID,
    client: uuid.UUID,
    session: uuid.UUID,
    goal: dict[str, Any],
) -> dict[str, Any]:
    """Every partner read of the clinician's data, as status codes or listed ids."""
    window = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=3)).isoformat()}
    appointments = await records.http.get("/v1/appointments", headers=partner)
    goals = await records.http.get("/v1/goals", headers=partner)
    progress = await records.http.get(f"/v1/clients/{client}/progress", headers=partner)
    return {
        "appointments": [a["session_id"] for a in appointments.json()],
        "goals": [g["id"] for g in goals.json()],
        "progress": len(progress.json()["items"]),
        "session": (await records.http.get(f"/v1/sessions/{session}", headers=partner)).status_code,
        "goal_updates": (
            await records.http.get(f"/v1/goals/{goal['id']}/updates", headers=partner)
        ).status_code,
        "fhir": (await records.http.get(f"/v1/clients/{client}/fhir", headers=partner)).status_code,
        "slots": (
            await records.http.get(
                f"/v1/clinicians/{clinician}/slots", params=window, headers=partner
            )
        ).status_code,
    }


SEES_ALL = {"progress": 1, "session": 200, "goal_updates": 200, "fhir": 200, "slots": 200}
SEES_NOTHING = {
    "appointments": [],
    "goals": [],
    "progress": 0,
    "session": 403,
    "goal_updates": 403,
    "fhir": 403,
    "slots": 403,
}


async def test_a_token_issued_before_the_revocation_loses_the_clinician_at_once(
    records: Records,
):
    clinician, client, session, goal = await _world(records)
    partner = _partner(records, [clinician])
    before = await _what_the_partner_sees(records, partner, clinician, client, session, goal)
    assert before == {**SEES_ALL, "appointments": [str(session)], "goals": [goal["id"]]}

    await _revoke(records, clinician, datetime.now(UTC))

    after = await _what_the_partner_sees(records, partner, clinician, client, session, goal)
    assert after == SEES_NOTHING
    booking = await records.http.post(
        "/v1/appointments",
        json={
            "clinician_id": str(clinician),
            "client_id": str(client),
            "starts_at": (T0 + timedelta(hours=1)).isoformat(),
            "ends_at": (T0 + timedelta(hours=1, minutes=50)).isoformat(),
        },
        headers=partner,
    )
    assert booking.status_code == 403, booking.text
    assert booking.json()["error"] == "NotYourRecord"
    [appointment] = (
        await records.http.get("/v1/appointments", headers=records.auth(clinician))
    ).json()
    cancel = await records.http.post(
        f"/v1/appointments/{appointment['id']}/cancel", headers=partner
    )
    assert cancel.status_code == 403, cancel.text


async def test_a_token_from_the_revocations_own_second_is_refused(records: Records):
    """``iat`` has whole seconds: a token of the same second may predate the revocation."""
    clinician, client, session, goal = await _world(records)
    now = int(time.time())
    partner = _partner(records, [clinician], iat=now)

    await _revoke(records, clinician, datetime.fromtimestamp(now, UTC) + timedelta(seconds=0.5))

    seen = await _what_the_partner_sees(records, partner, clinician, client, session, goal)
    assert seen == SEES_NOTHING


async def test_a_token_issued_after_the_revocation_is_believed(records: Records):
    clinician, client, session, goal = await _world(records)
    await _revoke(records, clinician, datetime.now(UTC) - timedelta(seconds=30))

    partner = _partner(records, [clinician])

    seen = await _what_the_partner_sees(records, partner, clinician, client, session, goal)
    assert seen == {**SEES_ALL, "appointments": [str(session)], "goals": [goal["id"]]}


async def test_a_re_grant_lets_in_tokens_issued_after_it_only(records: Records):
    clinician, client, session, goal = await _world(records)
    now = int(time.time())
    old = _partner(records, [clinician], iat=now - 60)
    await _revoke(records, clinician, datetime.fromtimestamp(now - 40, UTC))
    await _grant(records, clinician, datetime.fromtimestamp(now - 20, UTC))
    new = _partner(records, [clinician], iat=now)

    old_sees = await _what_the_partner_sees(records, old, clinician, client, session, goal)
    new_sees = await _what_the_partner_sees(records, new, clinician, client, session, goal)

    assert old_sees == SEES_NOTHING
    assert new_sees == {**SEES_ALL, "appointments": [str(session)], "goals": [goal["id"]]}
    async with records.database.unit_of_work() as db:
        [row] = (await db.exec(select(PartnerGrantRevocation))).all()
    assert row.regranted_at == datetime.fromtimestamp(now - 20, UTC)


async def test_a_revocation_touches_only_its_clinician_and_its_app(records: Records):
    clinician, client, session, goal = await _world(records)
    other = await records.register("clinician")
    other_client = await records.register("client")
    other_session = await records.booked_session(other, other_client)
    ehr = _partner(records, [clinician, other])
    billing = _partner(records, [clinician], app="pa_billing")

    await _revoke(records, clinician, datetime.now(UTC))

    ehr_list = await records.http.get("/v1/appointments", headers=ehr)
    billing_sees = await _what_the_partner_sees(records, billing, clinician, client, session, goal)
    assert [a["session_id"] for a in ehr_list.json()] == [str(other_session)]
    assert billing_sees == {**SEES_ALL, "appointments": [str(session)], "goals": [goal["id"]]}


async def test_the_latest_revocation_counts_and_redelivery_changes_nothing(records: Records):
    clinician, client, session, goal = await _world(records)
    now = int(time.time())
    token = _partner(records, [clinician], iat=now - 20)
    latest = datetime.fromtimestamp(now - 10, UTC)
    earlier = datetime.fromtimestamp(now - 30, UTC)

    await _revoke(records, clinician, latest)
    await _revoke(records, clinician, earlier)  # an older revocation, heard late
    await _revoke(records, clinician, latest)  # the same again

    async with records.database.unit_of_work() as db:
        rows = (await db.exec(select(PartnerGrantRevocation))).all()
    assert [(r.partner_id, r.clinician_id, r.revoked_at) for r in rows] == [
        (APP, clinician, latest)
    ]
    seen = await _what_the_partner_sees(records, token, clinician, client, session, goal)
    assert seen == SEES_NOTHING


async def test_a_grant_without_a_revocation_stores_nothing(records: Records):
    clinician = await records.register("clinician")

    await _grant(records, clinician, datetime.now(UTC))

    async with records.database.unit_of_work() as db:
        assert (await db.exec(select(PartnerGrantRevocation))).all() == []
