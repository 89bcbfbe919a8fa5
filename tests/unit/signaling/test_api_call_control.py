"""Over a real socket: the Origin allowlist, admit-all, send-back and resuming after a drop."""

from __future__ import annotations

import json
import uuid

import pytest
import websockets
from websockets.exceptions import InvalidStatus

from services.signaling.schemas import SUBPROTOCOL
from tests.unit.signaling.conftest import RunningSignaling, StartSignaling, short_types


def _ids() -> tuple[uuid.UUID, uuid.UUID]:
    return uuid.uuid4(), uuid.uuid4()


async def test_a_foreign_origin_is_refused_at_the_handshake(
    start_signaling: StartSignaling,
) -> None:
    signaling = await start_signaling(allowed_origins=["https://app.example.com"])
    with pytest.raises(InvalidStatus) as refused:
        await websockets.connect(
            signaling.url,
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            origin="https://evil.example.net",  # type: ignore[arg-type]
            compression=None,
        )
    assert refused.value.response.status_code == 403

    allowed = await websockets.connect(
        signaling.url,
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        origin="https://app.example.com",  # type: ignore[arg-type]
        compression=None,
    )
    await allowed.send('{"type": "ping"}')
    assert await allowed.recv() == '{"type":"pong"}'
    await allowed.close()


async def test_admit_all_lets_the_waiting_client_in(signaling: RunningSignaling) -> None:
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    await clinician.expect("waiting-room")
    await clinician.send({"type": "admit-all"})
    joined = await client.expect("joined")
    assert joined["polite"] is True
    await clinician.expect("peer-joined")
    assert await clinician.receive() == {"type": "waiting-room", "waiting": []}

    # A client may not admit anyone.
    await client.send({"type": "admit-all"})
    assert (await client.expect("error"))["code"] == "forbidden"


async def test_send_back_returns_the_client_to_the_waiting_room(
    signaling: RunningSignaling,
) -> None:
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    await clinician.expect("waiting-room")
    await clinician.send({"type": "admit", "user_id": str(client_id)})
    await client.expect("joined")
    await clinician.expect("peer-joined")
    await clinician.expect("waiting-room")

    await clinician.send({"type": "send-back", "user_id": str(client_id)})
    assert await clinician.receive() == {"type": "peer-left", "user_id": str(client_id)}
    room = await clinician.expect("waiting-room")
    assert [w["user_id"] for w in room["waiting"]] == [str(client_id)]
    assert await client.receive() == {
        "type": "sent-back",
        "session_id": str(session_id),
        "clinician_status": "online",
    }
    # Back in the waiting room, the client may no longer relay.
    await client.send({"type": "offer", "sdp": "v=0"})
    assert (await client.expect("error"))["code"] == "not-admitted"
    # Sending back someone not in the call names no one.
    await clinician.send({"type": "send-back", "user_id": str(client_id)})
    assert (await clinician.expect("error"))["code"] == "unknown-participant"

    await clinician.send({"type": "admit", "user_id": str(client_id)})
    await client.expect("joined")
    assert short_types(await signaling.events(session_id))[-3:] == [
        "participant.left",
        "participant.admitted",
        "participant.joined",
    ]


async def test_a_dropped_member_resumes_within_the_grace_period(
    start_signaling: StartSignaling,
) -> None:
    signaling = await start_signaling(resume_grace_seconds=30)
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    await clinician.expect("waiting-room")
    await clinician.send({"type": "admit", "user_id": str(client_id)})
    await client.expect("joined")
    await clinician.expect("peer-joined")
    await clinician.expect("waiting-room")
    before = short_types(await signaling.events(session_id))

    client.ws.transport.abort()  # the network drops
    assert await clinician.receive() == {"type": "peer-reconnecting", "user_id": str(client_id)}

    client, rejoined = await signaling.join(client_id, "client", session_id)
    assert rejoined["type"] == "joined"  # straight back into the call, no waiting room
    assert rejoined["resumed"] is True
    assert rejoined["peers"] == [{"user_id": str(clinician_id), "role": "clinician"}]
    assert await clinician.receive() == {"type": "peer-back", "user_id": str(client_id)}

    # The call goes on: relays flow both ways.
    await clinician.send({"type": "offer", "sdp": "v=0 restart"})
    assert (await client.expect("offer"))["from"] == str(clinician_id)
    # Resuming is not leaving and joining again.
    assert short_types(await signaling.events(session_id)) == before


async def test_a_dropped_clinician_resumes_and_sees_the_waiting_room(
    start_signaling: StartSignaling,
) -> None:
    signaling = await start_signaling(resume_grace_seconds=30)
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    await clinician.expect("waiting-room")
    clinician.ws.transport.abort()
    await client.nothing_more()  # a waiting client is not told about a short drop

    clinician, rejoined = await signaling.join(clinician_id, "clinician", session_id)
    assert rejoined["resumed"] is True
    assert [w["user_id"] for w in rejoined["waiting"]] == [str(client_id)]


async def test_a_url_session_id_must_match_the_tokens(signaling: RunningSignaling) -> None:
    """The gateway routes by the URL's session id; a token for another session is refused so
    that a room never spans processes."""
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    token = signaling.issuer.signaling(client_id, "client", session_id)
    for routed_for, first in ((uuid.uuid4(), None), (session_id, "waiting")):
        ws = await websockets.connect(
            f"{signaling.url}?session_id={routed_for}",
            subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
            compression=None,
        )
        await ws.send(json.dumps({"type": "join", "token": token}))
        if first is None:
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 4003
        else:
            assert json.loads(await ws.recv())["type"] == first
            await ws.close()


async def test_waiting_clients_see_the_clinicians_status(signaling: RunningSignaling) -> None:
    clinician_id, first_client, second_client = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    running_over = await signaling.schedule(clinician_id, first_client)
    next_session = await signaling.schedule(clinician_id, second_client)
    await signaling.join(clinician_id, "clinician", running_over)

    client, waiting = await signaling.join(second_client, "client", next_session)
    assert waiting["clinician_status"] == "in-another-session"

    clinician, _ = await signaling.join(clinician_id, "clinician", next_session)
    assert await client.receive() == {"type": "clinician-status", "status": "online"}
    await clinician.send({"type": "presence", "status": "away"})
    assert await client.receive() == {"type": "clinician-status", "status": "away"}
    await clinician.send({"type": "presence", "status": "online"})
    assert await client.receive() == {"type": "clinician-status", "status": "online"}
    await client.send({"type": "presence", "status": "away"})
    assert (await client.expect("error"))["code"] == "forbidden"
