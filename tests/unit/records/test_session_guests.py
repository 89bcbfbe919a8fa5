"""Guests without accounts in records: a session's attendance names each guest's relationship
(from identity's ``session.guest_invited``), and a guest's token reads nothing."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

import pytest

from shared.events.catalog import (
    ParticipantJoined,
    ParticipantLeft,
    SessionGuestInvited,
    SessionGuestRevoked,
)
from tests.unit.records.clinical_world import route_table
from tests.unit.records.conftest import T0, Records


def _at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def _invited(
    session_id: uuid.UUID, clinician_id: uuid.UUID, guest_id: uuid.UUID
) -> SessionGuestInvited:
    return SessionGuestInvited(
        guest_id=guest_id,
        session_id=session_id,
        clinician_id=clinician_id,
        relationship="interpreter",
        invited_at=_at(-60),
        expires_at=_at(24 * 60),
    )


async def test_a_guest_appears_in_the_attendance_with_their_relationship(
    records: Records,
) -> None:
    clinician = await records.register("clinician")
    client = await records.register("client")
    session = await records.booked_session(clinician, client)
    guest, stranger = uuid.uuid4(), uuid.uuid4()
    await records.deliver(_invited(session, clinician, guest), source="/rapport/identity")
    # Another clinician's guest link for this session changes nothing here.
    await records.deliver(_invited(session, uuid.uuid4(), stranger), source="/rapport/identity")
    await records.deliver(
        ParticipantJoined(session_id=session, user_id=clinician, role="clinician", at=_at(1)),
        ParticipantJoined(session_id=session, user_id=client, role="client", at=_at(2)),
        ParticipantJoined(session_id=session, user_id=guest, role="guest", at=_at(3)),
        ParticipantLeft(session_id=session, user_id=guest, role="guest", at=_at(20)),
    )
    # A guest revoked after they attended stays on the record as they were.
    await records.deliver(
        SessionGuestRevoked(
            guest_id=guest, session_id=session, clinician_id=clinician, revoked_at=_at(21)
        ),
        source="/rapport/identity",
    )

    for reader in (clinician, client):
        response = await records.http.get(f"/v1/sessions/{session}", headers=records.auth(reader))
        assert response.status_code == 200, response.text
        attendees = {a["user_id"]: a for a in response.json()["attendees"]}
        assert attendees[str(guest)]["role"] == "guest"
        assert attendees[str(guest)]["relationship"] == "interpreter"
        assert attendees[str(clinician)]["relationship"] is None
        assert attendees[str(client)]["relationship"] is None
        assert str(stranger) not in attendees


async def test_a_guest_token_is_refused_wherever_a_token_is_needed(records: Records) -> None:
    clinician = await records.register("clinician")
    client = await records.register("client")
    session = await records.booked_session(clinician, client)
    guest = uuid.uuid4()
    await records.deliver(_invited(session, clinician, guest), source="/rapport/identity")
    token = records.issuer.issue(
        guest, "guest", audience=["rapport", "rapport-signaling"], session_id=session
    )
    headers = {"Authorization": f"Bearer {token}"}

    checked = 0
    for method, template in sorted(route_table(records.app)):
        path = re.sub(r"\{[^}]+\}", str(session), template)
        anonymous = await records.http.request(method, path, json={})
        if anonymous.status_code != 401:
            continue  # public (health, metadata): nothing a guest could be refused
        response = await records.http.request(method, path, headers=headers, json={})
        assert response.status_code == 403, (method, template, response.text)
        checked += 1
    assert checked > 20


@pytest.mark.parametrize("path", ["/v1/sessions/{session}", "/v1/goals", "/v1/appointments"])
async def test_the_sessions_own_guest_reads_no_record_goal_or_appointment(
    records: Records, path: str
) -> None:
    clinician = await records.register("clinician")
    client = await records.register("client")
    session = await records.booked_session(clinician, client)
    guest = uuid.uuid4()
    await records.deliver(_invited(session, clinician, guest), source="/rapport/identity")
    token = records.issuer.issue(
        guest, "guest", audience=["rapport", "rapport-signaling"], session_id=session
    )
    response = await records.http.get(
        path.format(session=session), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "a guest token only joins its own session's call"
