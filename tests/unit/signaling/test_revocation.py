"""Revocation reaches live sockets: identity's events take the user out of every room at once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from services.signaling.room import Outcome, Room, Seat
from services.signaling.schemas import CloseCode, PeerLeft, WaitingRoom
from shared.events.catalog import (
    AppointmentScheduled,
    ParticipantLeft,
    TokensRevoked,
    UserDeactivated,
    UserRoleChanged,
)
from shared.events.revocations import Revocation, revocation_of
from tests.unit.signaling.conftest import RunningSignaling

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
CLINICIAN = uuid.UUID(int=1)
CLIENT = uuid.UUID(int=2)
SESSION = uuid.UUID(int=100)


def _in_call() -> Room:
    room = Room(SESSION, clinician_id=CLINICIAN, client_id=CLIENT)
    room.check_in(CLINICIAN, 1, "Dr. Lee", NOW)
    room.check_in(CLIENT, 2, "Sam", NOW)
    room.admit(Seat(SESSION, CLINICIAN, 1), CLIENT, NOW)
    return room


def test_a_revoked_member_leaves_at_once_and_is_closed_with_4401() -> None:
    room = _in_call()
    outcome = room.revoke(CLIENT, NOW)
    assert [(c.connection, c.code) for c in outcome.closures] == [(2, CloseCode.REVOKED)]
    assert (1, PeerLeft(user_id=CLIENT)) in outcome.messages
    [left] = outcome.events
    assert isinstance(left, ParticipantLeft) and left.reason == "revoked"
    assert [p.user_id for p in room.participants] == [CLINICIAN]


def test_a_revoked_member_within_the_grace_period_does_not_get_to_resume() -> None:
    room = _in_call()
    room.drop(Seat(SESSION, CLIENT, 2), NOW)
    outcome = room.revoke(CLIENT, NOW + timedelta(seconds=3))
    assert outcome.closures == []  # the socket is gone already
    [left] = outcome.events
    assert isinstance(left, ParticipantLeft) and left.reason == "revoked"
    assert not room.awaits_resume(Seat(SESSION, CLIENT, 2))


def test_a_revoked_waiting_client_leaves_the_clinicians_waiting_room() -> None:
    room = Room(SESSION, clinician_id=CLINICIAN, client_id=CLIENT)
    room.check_in(CLINICIAN, 1, "Dr. Lee", NOW)
    room.check_in(CLIENT, 2, "Sam", NOW)
    outcome = room.revoke(CLIENT, NOW)
    assert (1, WaitingRoom(waiting=[])) in outcome.messages
    assert [c.code for c in outcome.closures] == [CloseCode.REVOKED]


def test_a_logout_takes_out_only_a_member_who_joined_with_that_sign_in() -> None:
    phone, laptop = uuid.uuid4(), uuid.uuid4()
    room = Room(SESSION, clinician_id=CLINICIAN, client_id=CLIENT)
    room.check_in(CLINICIAN, 1, "Dr. Lee", NOW)
    room.check_in(CLIENT, 2, "Sam", NOW, family_id=laptop)
    room.admit(Seat(SESSION, CLINICIAN, 1), CLIENT, NOW)
    assert room.revoke(CLIENT, NOW, family_id=phone) == Outcome()
    outcome = room.revoke(CLIENT, NOW, family_id=laptop)
    assert [(c.connection, c.code) for c in outcome.closures] == [(2, CloseCode.REVOKED)]


def test_a_logout_ends_the_grace_period_of_a_member_of_that_sign_in() -> None:
    phone, laptop = uuid.uuid4(), uuid.uuid4()
    room = Room(SESSION, clinician_id=CLINICIAN, client_id=CLIENT)
    room.check_in(CLINICIAN, 1, "Dr. Lee", NOW)
    room.check_in(CLIENT, 2, "Sam", NOW, family_id=phone)
    room.admit(Seat(SESSION, CLINICIAN, 1), CLIENT, NOW)
    room.drop(Seat(SESSION, CLIENT, 2), NOW)
    # Back from the laptop within the grace period: the phone's logout no longer concerns them.
    room.check_in(CLIENT, 3, "Sam", NOW, family_id=laptop)
    assert room.revoke(CLIENT, NOW, family_id=phone) == Outcome()
    room.drop(Seat(SESSION, CLIENT, 3), NOW)
    [left] = room.revoke(CLIENT, NOW, family_id=laptop).events
    assert isinstance(left, ParticipantLeft) and left.reason == "revoked"
    assert not room.awaits_resume(Seat(SESSION, CLIENT, 3))


def test_revoking_someone_not_in_the_room_changes_nothing() -> None:
    room = _in_call()
    outcome = room.revoke(uuid.uuid4(), NOW)
    assert outcome.messages == [] and outcome.closures == [] and outcome.events == []
    assert len(room.participants) == 2


@pytest.mark.parametrize(
    ("payload", "before"),
    [
        (UserDeactivated(user_id=CLIENT, deactivated_at=NOW), NOW),
        (UserRoleChanged(user_id=CLIENT, old_role="client", new_role="admin", changed_at=NOW), NOW),
        (
            TokensRevoked(
                user_id=CLIENT, family_id=None, reason="refresh_reuse", revoked_before=NOW
            ),
            NOW,
        ),
        (
            TokensRevoked(user_id=CLIENT, family_id=None, reason="deactivated", revoked_before=NOW),
            NOW,
        ),
    ],
)
def test_identity_events_that_revoke_every_token_of_a_user(
    payload: object, before: datetime
) -> None:
    assert revocation_of(payload) == Revocation(CLIENT, before)  # type: ignore[arg-type]


def test_a_logout_revokes_the_tokens_of_its_sign_in_only() -> None:
    family = uuid.uuid4()
    logout = TokensRevoked(user_id=CLIENT, family_id=family, reason="logout", revoked_before=NOW)
    assert revocation_of(logout) == Revocation(CLIENT, NOW, family_id=family)
    # A reused refresh token names its family, but ends every sign-in of the user.
    reuse = TokensRevoked(
        user_id=CLIENT, family_id=family, reason="refresh_reuse", revoked_before=NOW
    )
    assert revocation_of(reuse) == Revocation(CLIENT, NOW)


def test_an_appointment_revokes_nothing() -> None:
    appointment = AppointmentScheduled(
        appointment_id=uuid.uuid4(),
        session_id=SESSION,
        clinician_id=CLINICIAN,
        client_id=CLIENT,
        starts_at=NOW,
        ends_at=NOW + timedelta(minutes=50),
    )
    assert revocation_of(appointment) is None


async def test_revocation_closes_the_live_socket_and_refuses_the_old_token(
    signaling: RunningSignaling,
) -> None:
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    other_session = await signaling.schedule(uuid.uuid4(), client_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    old_token = signaling.issuer.signaling(client_id, "client", session_id)
    client = await signaling.connect()
    await client.send({"type": "join", "token": old_token, "display_name": "Sam"})
    await client.expect("waiting")
    await clinician.expect("waiting-room")
    await clinician.send({"type": "admit", "user_id": str(client_id)})
    await client.expect("joined")
    # The same user waiting in another session's room (their other appointment).
    elsewhere, waiting = await signaling.join(client_id, "client", other_session)
    assert waiting["type"] == "waiting"

    await signaling.app.state.signaling_edge.revoke(Revocation(client_id, datetime.now(UTC)))

    assert await client.closed_with() == CloseCode.REVOKED
    assert await elsewhere.closed_with() == CloseCode.REVOKED
    await clinician.expect("peer-joined")
    await clinician.expect("waiting-room")
    assert await clinician.receive() == {"type": "peer-left", "user_id": str(client_id)}
    reasons = [
        e.payload.reason
        for e in await signaling.events(session_id)
        if isinstance(e.payload, ParticipantLeft)
    ]
    assert reasons == ["revoked"]

    # The token they held is refused from now on; the clinician's call goes on.
    again = await signaling.connect()
    await again.send({"type": "join", "token": old_token})
    assert await again.closed_with() == CloseCode.UNAUTHORIZED
    await clinician.send({"type": "ping"})
    await clinician.expect("pong")


# A sign-in ends by logout, or by identity's idle timeout or absolute lifetime (idle logoff).
@pytest.mark.parametrize("reason", ["logout", "idle_timeout", "absolute_lifetime"])
async def test_a_logout_closes_the_sockets_of_that_sign_in_and_no_other(
    signaling: RunningSignaling, reason: Literal["logout", "idle_timeout", "absolute_lifetime"]
) -> None:
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    phone, laptop = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    other_session = await signaling.schedule(uuid.uuid4(), client_id)
    issuer = signaling.issuer
    # The same user signed in twice: waiting in one session's room from the phone, in
    # another's from the laptop.
    on_phone, on_laptop = await signaling.connect(), await signaling.connect()
    phone_token = issuer.issue(
        client_id, "client", audience="rapport-signaling", session_id=session_id, fid=str(phone)
    )
    laptop_token = issuer.issue(
        client_id,
        "client",
        audience="rapport-signaling",
        session_id=other_session,
        fid=str(laptop),
    )
    await on_phone.send({"type": "join", "token": phone_token, "display_name": "Sam"})
    await on_phone.expect("waiting")
    await on_laptop.send({"type": "join", "token": laptop_token, "display_name": "Sam"})
    await on_laptop.expect("waiting")

    ended = TokensRevoked(user_id=client_id, family_id=phone, reason=reason, revoked_before=NOW)
    revocation = revocation_of(ended)
    assert revocation is not None
    await signaling.app.state.signaling_edge.revoke(revocation)

    assert await on_phone.closed_with() == CloseCode.REVOKED
    # The laptop's sign-in is untouched: its socket answers, and its tokens still join.
    await on_laptop.send({"type": "ping"})
    await on_laptop.expect("pong")
    again = await signaling.connect()
    await again.send({"type": "join", "token": phone_token})
    assert await again.closed_with() == CloseCode.UNAUTHORIZED
    await on_laptop.close()
    fresh, reply = await signaling.join(client_id, "client", session_id)
    assert reply["type"] == "waiting"
    await fresh.close()
