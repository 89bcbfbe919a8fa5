"""The /v1/signal WebSocket, end to end over a real socket: joins, the waiting room, admission,
relay, the limits and every close code."""

from __future__ import annotations

import asyncio
import json
import uuid

from services.signaling.schemas import CloseCode
from tests.support.tokens import TestTokenIssuer
from tests.unit.signaling.conftest import RunningSignaling, StartSignaling, short_types


def _ids() -> tuple[uuid.UUID, uuid.UUID]:
    return uuid.uuid4(), uuid.uuid4()


async def test_a_whole_session_from_waiting_room_to_end(signaling: RunningSignaling) -> None:
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)

    client, waiting = await signaling.join(client_id, "client", session_id, "Sam")
    assert waiting == {
        "type": "waiting",
        "session_id": str(session_id),
        "clinician_status": "offline",
        "since": waiting["since"],
        "resume_token": waiting["resume_token"],
    }

    clinician, joined = await signaling.join(clinician_id, "clinician", session_id, "Dr. Lee")
    assert joined["type"] == "joined"
    assert joined["polite"] is False
    assert joined["you"] == {"user_id": str(clinician_id), "role": "clinician"}
    assert joined["peers"] == []
    [entry] = joined["waiting"]
    assert entry["user_id"] == str(client_id)
    assert entry["role"] == "client"
    assert entry["display_name"] == "Sam"
    assert entry["since"]
    assert (await client.expect("clinician-status"))["status"] == "online"

    await clinician.send({"type": "admit", "user_id": str(client_id)})
    admitted = await client.expect("joined")
    assert admitted == {
        "type": "joined",
        "session_id": str(session_id),
        "you": {"user_id": str(client_id), "role": "client"},
        "peers": [{"user_id": str(clinician_id), "role": "clinician"}],
        "polite": True,
    }
    peer_joined = await clinician.expect("peer-joined")
    assert peer_joined == {
        "type": "peer-joined",
        "peer": {"user_id": str(client_id), "role": "client"},
        "polite": True,
    }
    assert (await clinician.expect("waiting-room"))["waiting"] == []

    await clinician.send({"type": "offer", "sdp": "v=0 offer"})
    assert await client.receive() == {
        "type": "offer",
        "sdp": "v=0 offer",
        "from": str(clinician_id),
    }
    await client.send({"type": "answer", "sdp": "v=0 answer"})
    assert await clinician.receive() == {
        "type": "answer",
        "sdp": "v=0 answer",
        "from": str(client_id),
    }
    candidate = {
        "candidate": "candidate:1 1 udp 1 10.0.0.1 5000 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }
    await client.send({"type": "ice-candidate", "candidate": candidate})
    assert await clinician.receive() == {
        "type": "ice-candidate",
        "candidate": candidate,
        "from": str(client_id),
    }
    await clinician.send({"type": "ice-candidate", "candidate": None, "to": str(client_id)})
    assert await client.receive() == {
        "type": "ice-candidate",
        "candidate": None,
        "to": str(client_id),
        "from": str(clinician_id),
    }

    await clinician.send({"type": "connected"})
    await client.send({"type": "connected"})
    await client.send({"type": "connected"})  # said twice: still one CallConnected
    await client.send({"type": "ping"})
    await client.expect("pong")
    assert short_types(await signaling.events(session_id)).count("call.connected") == 1

    await clinician.send({"type": "end"})
    assert await client.expect("ended") == {"type": "ended", "reason": "ended"}
    assert await clinician.expect("ended") == {"type": "ended", "reason": "ended"}
    assert await client.closed_with() == CloseCode.SESSION_ENDED
    assert await clinician.closed_with() == CloseCode.SESSION_ENDED

    events = await signaling.events(session_id)
    assert short_types(events) == [
        "participant.checked_in",
        "participant.joined",
        "participant.admitted",
        "participant.joined",
        "session.started",
        "call.connected",
        "participant.left",
        "participant.left",
        "session.ended",
    ]
    assert all(e.source == "/rapport/signaling" for e in events)
    checked_in, clinician_joined, admitted_event, client_joined = (e.payload for e in events[:4])
    assert (checked_in.user_id, checked_in.role) == (client_id, "client")
    assert (clinician_joined.user_id, clinician_joined.role) == (clinician_id, "clinician")
    assert admitted_event.admitted_by == clinician_id  # type: ignore[union-attr]
    assert client_joined.user_id == client_id
    ended = events[-1].payload
    assert (ended.ended_by, ended.reason) == (clinician_id, "ended")  # type: ignore[union-attr]

    # An ended session stays ended.
    late = await signaling.connect()
    await late.send(
        {"type": "join", "token": signaling.issuer.signaling(client_id, "client", session_id)}
    )
    assert await late.closed_with() == CloseCode.SESSION_ENDED


async def test_no_free_text_travels_in_events(signaling: RunningSignaling) -> None:
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    client, _ = await signaling.join(client_id, "client", session_id, "Samantha Private")
    await client.send({"type": "leave"})
    assert await client.closed_with() == CloseCode.NORMAL
    events = await signaling.events(session_id)
    assert short_types(events) == ["participant.checked_in", "participant.left"]
    assert all("Samantha" not in json.dumps(e.payload.data()) for e in events)


async def test_a_bad_token_closes_4001(signaling: RunningSignaling) -> None:
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    stranger_keys = TestTokenIssuer(kid="someone-else")
    bad_tokens = [
        "not-a-jwt",
        signaling.issuer.issue(client_id, "client", audience="rapport", session_id=session_id),
        signaling.issuer.issue(
            client_id, "client", audience="rapport-signaling", session_id=session_id, lifetime=-60
        ),
        stranger_keys.signaling(client_id, "client", session_id),
        signaling.issuer.issue(client_id, "client", audience="rapport-signaling"),  # no sid
        signaling.issuer.issue(client_id, "client", audience="rapport-signaling", sid="nope"),
    ]
    for token in bad_tokens:
        peer = await signaling.connect()
        await peer.send({"type": "join", "token": token})
        assert await peer.closed_with() == CloseCode.UNAUTHORIZED, token
    assert await signaling.events(session_id) == []


async def test_no_join_in_time_closes_4001(start_signaling: StartSignaling) -> None:
    signaling = await start_signaling(join_timeout_seconds=0.3)
    peer = await signaling.connect()
    await peer.send({"type": "ping"})
    await peer.expect("pong")  # answered, but it does not count as joining
    # Bounded only against a hang: the 0.3 s is the server's to keep, not the test's to time.
    assert await peer.closed_with(within=30) == CloseCode.UNAUTHORIZED


async def test_someone_elses_session_closes_4003(signaling: RunningSignaling) -> None:
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    peer = await signaling.connect()
    await peer.send(
        {"type": "join", "token": signaling.issuer.signaling(uuid.uuid4(), "client", session_id)}
    )
    assert await peer.closed_with() == CloseCode.FORBIDDEN
    assert await signaling.events(session_id) == []


async def test_an_unknown_session_closes_4004(signaling: RunningSignaling) -> None:
    peer = await signaling.connect()
    token = signaling.issuer.signaling(uuid.uuid4(), "client", uuid.uuid4())
    await peer.send({"type": "join", "token": token})
    assert await peer.closed_with() == CloseCode.UNKNOWN_SESSION


async def test_without_the_subprotocol_the_socket_closes_4400(
    signaling: RunningSignaling,
) -> None:
    # (An empty list would make the client library send an empty, invalid header.)
    peer = await signaling.connect(subprotocols=["chat"])
    assert await peer.closed_with() == CloseCode.PROTOCOL_ERROR


async def test_the_subprotocol_is_accepted_among_others(signaling: RunningSignaling) -> None:
    peer = await signaling.connect(subprotocols=["chat", "rapport.signal.v1"])
    assert peer.ws.subprotocol == "rapport.signal.v1"


async def test_invalid_messages_get_errors_and_the_socket_keeps_working(
    signaling: RunningSignaling,
) -> None:
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    peer = await signaling.connect()

    await peer.ws.send("{not json")
    error = await peer.expect("error")
    assert error["code"] == "invalid-message" and "JSON" in error["message"]
    await peer.send({"type": "offer", "sdp": "x"})
    assert (await peer.expect("error"))["code"] == "not-joined"

    await peer.send(
        {"type": "join", "token": signaling.issuer.signaling(client_id, "client", session_id)}
    )
    await peer.expect("waiting")
    for bad, hint in [
        ("[1, 2]", "object"),
        ('{"no": "type"}', "type"),
        ('{"type": "dance"}', "dance"),
        ('{"type": "offer"}', "sdp"),
        ('{"type": "admit", "user_id": "not-a-uuid"}', "user_id"),
        ('{"type": "offer", "sdp": "x", "from": "spoofed"}', "from"),
    ]:
        await peer.ws.send(bad)
        error = await peer.expect("error")
        assert error["code"] == "invalid-message", bad
        assert hint in error["message"], (bad, error)
    await peer.ws.send(json.dumps({"type": "ping"}).encode())  # binary frames carry JSON too
    await peer.expect("pong")
    await peer.send({"type": "join", "token": "again"})
    assert (await peer.expect("error"))["code"] == "invalid-message"
    await peer.send({"type": "ping"})
    await peer.expect("pong")


async def test_an_oversized_message_closes_4413(signaling: RunningSignaling) -> None:
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    await clinician.send({"type": "offer", "sdp": "x" * 65_000})  # just under: fine
    await clinician.send({"type": "ping"})
    await clinician.expect("pong")
    # 33,000 characters, but 66,000 bytes of UTF-8: the limit counts bytes.
    await clinician.ws.send(json.dumps({"type": "offer", "sdp": "é" * 33_000}, ensure_ascii=False))
    assert await clinician.closed_with() == CloseCode.TOO_BIG


async def test_an_oversized_first_message_closes_4413(signaling: RunningSignaling) -> None:
    peer = await signaling.connect()
    await peer.ws.send("x" * 70_000)
    assert await peer.closed_with() == CloseCode.TOO_BIG


async def test_only_the_clinician_admits_declines_and_ends(signaling: RunningSignaling) -> None:
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    for message in [
        {"type": "admit", "user_id": str(client_id)},
        {"type": "decline", "user_id": str(client_id)},
        {"type": "end"},
    ]:
        await client.send(message)
        error = await client.expect("error")
        assert error["code"] == "forbidden", message
    await client.send({"type": "ping"})
    await client.expect("pong")
    assert short_types(await signaling.events(session_id)) == ["participant.checked_in"]


async def test_a_waiting_client_cannot_relay(signaling: RunningSignaling) -> None:
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    await client.expect("clinician-status")
    for message in [
        {"type": "offer", "sdp": "v=0"},
        {"type": "answer", "sdp": "v=0"},
        {"type": "ice-candidate", "candidate": None},
        {"type": "connected"},
    ]:
        await client.send(message)
        assert (await client.expect("error"))["code"] == "not-admitted"
    await clinician.nothing_more()
    # Nor can anyone relay to a client who is still waiting.
    await clinician.send({"type": "offer", "sdp": "v=0", "to": str(client_id)})
    assert (await clinician.expect("error"))["code"] == "unknown-participant"
    await client.nothing_more()


async def test_admitting_someone_not_waiting_is_an_error(signaling: RunningSignaling) -> None:
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    await clinician.send({"type": "admit", "user_id": str(client_id)})
    assert (await clinician.expect("error"))["code"] == "unknown-participant"


async def test_a_declined_client_is_told_and_closed_4003(signaling: RunningSignaling) -> None:
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    clinician, joined = await signaling.join(clinician_id, "clinician", session_id)
    assert [w["user_id"] for w in joined["waiting"]] == [str(client_id)]
    await clinician.send({"type": "decline", "user_id": str(client_id)})
    await client.expect("clinician-status")
    assert await client.receive() == {"type": "declined"}
    assert await client.closed_with() == CloseCode.FORBIDDEN
    assert (await clinician.expect("waiting-room"))["waiting"] == []
    await clinician.nothing_more()
    assert short_types(await signaling.events(session_id)) == [
        "participant.checked_in",
        "participant.joined",
        "participant.left",
    ]


async def test_a_second_connection_of_the_same_user_replaces_the_first(
    signaling: RunningSignaling,
) -> None:
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    first, _ = await signaling.join(client_id, "client", session_id)
    assert len((await clinician.expect("waiting-room"))["waiting"]) == 1

    second, waiting = await signaling.join(client_id, "client", session_id)
    assert waiting["type"] == "waiting" and waiting["clinician_status"] == "online"
    assert await first.closed_with() == CloseCode.REPLACED
    # The old one left the waiting room, the new one arrived: one entry, never two.
    assert len((await clinician.expect("waiting-room"))["waiting"]) == 0
    assert len((await clinician.expect("waiting-room"))["waiting"]) == 1

    await clinician.send({"type": "admit", "user_id": str(client_id)})
    await second.expect("joined")
    await clinician.expect("peer-joined")
    await clinician.expect("waiting-room")
    await clinician.nothing_more()
    assert short_types(await signaling.events(session_id)) == [
        "participant.joined",
        "participant.checked_in",
        "participant.left",
        "participant.checked_in",
        "participant.admitted",
        "participant.joined",
        "session.started",
    ]


async def test_leaving_and_dropping_tell_the_others(start_signaling: StartSignaling) -> None:
    signaling = await start_signaling(resume_grace_seconds=0.3)
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    await clinician.expect("waiting-room")
    await clinician.send({"type": "admit", "user_id": str(client_id)})
    await client.expect("joined")
    await clinician.expect("peer-joined")
    await clinician.expect("waiting-room")

    await client.send({"type": "leave"})
    assert await client.closed_with() == CloseCode.NORMAL
    assert await clinician.receive() == {"type": "peer-left", "user_id": str(client_id)}

    # The client comes back, is admitted again, and this time their socket just drops.
    client, _ = await signaling.join(client_id, "client", session_id)
    await clinician.expect("waiting-room")
    await clinician.send({"type": "admit", "user_id": str(client_id)})
    await client.expect("joined")
    await clinician.expect("peer-joined")
    await clinician.expect("waiting-room")
    client.ws.transport.abort()  # no close frame: the socket just drops
    assert await clinician.receive() == {"type": "peer-reconnecting", "user_id": str(client_id)}
    # Not back within the grace period: they left.
    assert await clinician.receive() == {"type": "peer-left", "user_id": str(client_id)}
    types = short_types(await signaling.events(session_id))
    assert types.count("participant.left") == 2


async def test_waiting_clients_hear_when_the_clinician_goes_offline(
    signaling: RunningSignaling,
) -> None:
    clinician_id, client_id = _ids()
    session_id = await signaling.schedule(clinician_id, client_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    client, waiting = await signaling.join(client_id, "client", session_id)
    assert waiting["clinician_status"] == "online"
    await clinician.expect("waiting-room")
    await clinician.send({"type": "leave"})
    assert await clinician.closed_with() == CloseCode.NORMAL
    assert await client.receive() == {"type": "clinician-status", "status": "offline"}


async def test_a_clinician_who_rejoins_finds_the_admitted_client(
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

    _, rejoined = await signaling.join(clinician_id, "clinician", session_id)  # a reloaded page
    assert rejoined["peers"] == [{"user_id": str(client_id), "role": "client"}]
    assert rejoined["polite"] is False
    assert await clinician.closed_with() == CloseCode.REPLACED
    assert await client.receive() == {"type": "peer-left", "user_id": str(clinician_id)}
    assert await client.receive() == {
        "type": "peer-joined",
        "peer": {"user_id": str(clinician_id), "role": "clinician"},
        "polite": False,
    }


async def test_events_of_one_room_never_reach_another(signaling: RunningSignaling) -> None:
    rooms = []
    for _ in range(2):
        clinician_id, client_id = _ids()
        session_id = await signaling.schedule(clinician_id, client_id)
        clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
        client, _ = await signaling.join(client_id, "client", session_id)
        await clinician.expect("waiting-room")
        await clinician.send({"type": "admit", "user_id": str(client_id)})
        await client.expect("joined")
        await clinician.expect("peer-joined")
        await clinician.expect("waiting-room")
        rooms.append((session_id, clinician_id, clinician, client))

    (first_id, first_clinician_id, first_clinician, first_client), second = rooms
    second_id, _, second_clinician, second_client = second
    await first_clinician.send({"type": "offer", "sdp": "v=0 first room"})
    assert (await first_client.receive())["from"] == str(first_clinician_id)
    await first_clinician.send({"type": "end"})
    await first_client.expect("ended")
    # Naming a member of another room does not reach them either.
    await second_clinician.send({"type": "offer", "sdp": "v=0", "to": str(first_clinician_id)})
    assert (await second_clinician.expect("error"))["code"] == "unknown-participant"
    await second_clinician.nothing_more()
    await second_client.nothing_more()
    assert "session.ended" not in short_types(await signaling.events(second_id))
    assert "session.ended" in short_types(await signaling.events(first_id))


async def test_a_flood_gets_too_fast_then_closes_4429(start_signaling: StartSignaling) -> None:
    signaling = await start_signaling(
        rate_limit_per_second=5, rate_limit_burst=5, rate_limit_patience=3
    )
    peer = await signaling.connect()
    for _ in range(20):
        await peer.send({"type": "ping"})
    replies = []
    try:
        async with asyncio.timeout(5):
            while True:
                replies.append(await peer.receive())
    except Exception:
        pass
    assert [r["type"] for r in replies[:5]] == ["pong"] * 5
    assert {r.get("code") for r in replies[5:]} == {"too-fast"}
    assert peer.ws.close_code == CloseCode.TOO_FAST


async def test_a_short_burst_is_forgiven(start_signaling: StartSignaling) -> None:
    signaling = await start_signaling(
        rate_limit_per_second=20, rate_limit_burst=2, rate_limit_patience=5
    )
    peer = await signaling.connect()
    for _ in range(3):
        await peer.send({"type": "ping"})
    assert [(await peer.receive())["type"] for _ in range(3)] == ["pong", "pong", "error"]
    await asyncio.sleep(0.2)  # the bucket refills
    await peer.send({"type": "ping"})
    await peer.expect("pong")
