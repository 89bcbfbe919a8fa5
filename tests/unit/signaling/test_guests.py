"""Guests without accounts: identity's ``session.guest_invited`` puts a guest on one session's
roster (only when the session's own clinician invited them), their guest token joins that
session and no other, and ``session.guest_revoked`` takes them off and out of the room."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.signaling.events import build_router
from services.signaling.models import SessionAccess
from services.signaling.schemas import CloseCode
from shared.db import Database
from shared.events.catalog import SessionGuestInvited, SessionGuestRevoked
from shared.events.envelope import decode, encode
from shared.events.revocations import revocation_of
from tests.unit.signaling.conftest import RunningSignaling


async def _deliver(database: Database, payload: SessionGuestInvited | SessionGuestRevoked) -> None:
    record = encode(payload, source="/rapport/identity")
    async with database.unit_of_work() as session:
        await build_router().dispatch(session, decode(record.key, record.value, record.headers))


def _invited(
    session_id: uuid.UUID, clinician_id: uuid.UUID, guest_id: uuid.UUID
) -> SessionGuestInvited:
    now = datetime.now(UTC)
    return SessionGuestInvited(
        guest_id=guest_id,
        session_id=session_id,
        clinician_id=clinician_id,
        relationship="interpreter",
        invited_at=now,
        expires_at=now + timedelta(days=1),
    )


async def test_a_guest_token_joins_its_session_as_a_guest_and_no_other(
    signaling: RunningSignaling,
) -> None:
    clinician_id, client_id, guest_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    other_session = await signaling.schedule(clinician_id, uuid.uuid4())
    # The room is open before the guest is invited: the next join brings the roster up to date.
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    before = await signaling.connect()
    await before.send({"type": "join", "token": signaling.issuer.guest(guest_id, session_id)})
    assert await before.closed_with() == CloseCode.FORBIDDEN

    await _deliver(signaling.database, _invited(session_id, clinician_id, guest_id))

    client, _ = await signaling.join(client_id, "client", session_id)
    guest = await signaling.connect()
    await guest.send(
        {
            "type": "join",
            "token": signaling.issuer.guest(guest_id, session_id),
            "display_name": "Ana",
        }
    )
    await guest.expect("waiting")
    await clinician.expect("waiting-room")
    room = await clinician.expect("waiting-room")
    assert {(w["user_id"], w["role"]) for w in room["waiting"]} == {
        (str(client_id), "client"),
        (str(guest_id), "guest"),
    }
    # The guest has a seat of their own: the appointment's two plus one.
    await clinician.send({"type": "admit-all"})
    await client.expect("joined")
    joined = await guest.expect("joined")
    assert {p["user_id"] for p in joined["peers"]} == {str(clinician_id), str(client_id)}

    # The same guest's token for another session (even the same clinician's) is refused.
    elsewhere = await signaling.connect()
    await elsewhere.send({"type": "join", "token": signaling.issuer.guest(guest_id, other_session)})
    assert await elsewhere.closed_with() == CloseCode.FORBIDDEN


async def test_a_guest_invited_by_another_clinician_is_not_let_in(
    signaling: RunningSignaling,
) -> None:
    clinician_id, guest_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, uuid.uuid4())
    await _deliver(signaling.database, _invited(session_id, uuid.uuid4(), guest_id))

    async with signaling.database.unit_of_work() as session:
        access = await session.get(SessionAccess, session_id)
    assert access is not None and access.guest_ids == []
    guest = await signaling.connect()
    await guest.send({"type": "join", "token": signaling.issuer.guest(guest_id, session_id)})
    assert await guest.closed_with() == CloseCode.FORBIDDEN


async def test_a_revoked_guest_leaves_the_room_and_cannot_come_back(
    signaling: RunningSignaling,
) -> None:
    clinician_id, client_id, guest_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    await _deliver(signaling.database, _invited(session_id, clinician_id, guest_id))
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    held = signaling.issuer.guest(guest_id, session_id)
    guest = await signaling.connect()
    await guest.send({"type": "join", "token": held, "display_name": "Ana"})
    await guest.expect("waiting")
    await clinician.expect("waiting-room")
    await clinician.send({"type": "admit", "user_id": str(guest_id)})
    await guest.expect("joined")

    revoked = SessionGuestRevoked(
        guest_id=guest_id,
        session_id=session_id,
        clinician_id=clinician_id,
        revoked_at=datetime.now(UTC),
    )
    # What every signaling process does with it: its consumer group takes the guest off the
    # roster, and its revocation follower takes them out of a room it holds.
    await _deliver(signaling.database, revoked)
    revocation = revocation_of(revoked)
    assert revocation is not None
    await signaling.app.state.signaling_edge.revoke(revocation)

    assert await guest.closed_with() == CloseCode.REVOKED
    await clinician.expect("peer-joined")
    await clinician.expect("waiting-room")
    assert await clinician.receive() == {"type": "peer-left", "user_id": str(guest_id)}
    # The token they hold is refused from now on, and the roster no longer names them either.
    again = await signaling.connect()
    await again.send({"type": "join", "token": held})
    assert await again.closed_with() == CloseCode.UNAUTHORIZED
    async with signaling.database.unit_of_work() as session:
        access = await session.get(SessionAccess, session_id)
    assert access is not None and access.guest_ids == []
    await clinician.send({"type": "ping"})
    await clinician.expect("pong")
