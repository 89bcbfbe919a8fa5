"""Fuzzing the socket: malformed, oversized, unknown-type and out-of-order messages at a rate.

Every one gets an ``error`` naming what is wrong, or the socket is closed with a documented
close code, and a healthy call in another room goes on unaffected the whole time.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from typing import Any, get_args

import websockets

from services.signaling.schemas import CLOSE_CODE_MEANINGS, ErrorCode
from tests.unit.signaling.conftest import Peer, RunningSignaling, StartSignaling

DOCUMENTED_CLOSE_CODES = {int(code) for code in CLOSE_CODE_MEANINGS}
ERROR_CODES = set(get_args(ErrorCode))


def _malformed(rng: random.Random, someone: str) -> str | bytes:
    """One message the server cannot act on (all of them are answered or close the socket)."""
    choices: list[Any] = [
        "",
        "{",
        "null",
        "[]",
        "42",
        '"join"',
        "\x00\x01",
        b"\xff\xfe binary",
        json.dumps({"type": "no-such-type"}),
        json.dumps({"type": None}),
        json.dumps({"kind": "offer"}),
        json.dumps({"type": "offer"}),
        json.dumps({"type": "offer", "sdp": ""}),
        json.dumps({"type": "offer", "sdp": "v=0", "extra": 1}),
        json.dumps({"type": "offer", "sdp": "v=0", "to": "not-a-uuid"}),
        json.dumps({"type": "ice-candidate", "candidate": {"candidate": 5}}),
        json.dumps({"type": "ice-candidate", "candidate": {"candidate": "x" * 5000}}),
        json.dumps({"type": "admit", "user_id": someone}),  # out of order / not allowed
        json.dumps({"type": "decline", "user_id": someone}),
        json.dumps({"type": "send-back", "user_id": someone}),
        json.dumps({"type": "end"}),
        json.dumps({"type": "goal-update", "goal_id": someone, "progress": 99}),
        json.dumps({"type": "stats", "packet_loss": -1}),
        json.dumps({"type": "join", "token": ""}),
        json.dumps({"type": "connected"}),
        json.dumps({"type": "offer", "sdp": "v=0"}),
        "x" * rng.randint(1, 300),
        bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64))),
    ]
    return rng.choice(choices)  # type: ignore[no-any-return]


async def _healthy_call(signaling: RunningSignaling, rounds: int, stop: asyncio.Event) -> int:
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    clinician, _ = await signaling.join(clinician_id, "clinician", session_id)
    client, _ = await signaling.join(client_id, "client", session_id)
    await clinician.expect("waiting-room")
    await clinician.send({"type": "admit", "user_id": str(client_id)})
    await client.expect("joined")
    await clinician.expect("peer-joined")
    await clinician.expect("waiting-room")
    relayed = 0
    for n in range(rounds):
        await clinician.send({"type": "offer", "sdp": f"v=0 {n}"})
        offer = await client.expect("offer")
        assert offer == {"type": "offer", "sdp": f"v=0 {n}", "from": str(clinician_id)}
        await client.send({"type": "answer", "sdp": f"v=0 {n}"})
        assert (await clinician.expect("answer"))["sdp"] == f"v=0 {n}"
        relayed += 1
        if stop.is_set() and n >= 20:
            break
        await asyncio.sleep(0.005)
    return relayed


async def _fuzz(signaling: RunningSignaling, *, joined: bool, seed: int, count: int) -> set[int]:
    """Send ``count`` malformed messages in bursts; check every answer; reconnect after a
    documented close. Returns the close codes seen."""
    rng = random.Random(seed)
    closes: set[int] = set()
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)

    async def connect() -> Peer:
        if joined:
            peer, waiting = await signaling.join(client_id, "client", session_id)
            assert waiting["type"] == "waiting"
            return peer
        return await signaling.connect()

    peer = await connect()
    sent = 0
    while sent < count:
        burst = [_malformed(rng, str(uuid.uuid4())) for _ in range(rng.randint(1, 12))]
        if rng.random() < 0.05:
            burst.append(json.dumps({"type": "offer", "sdp": "x" * 70_000}))  # too big
        try:
            for message in burst:
                await peer.ws.send(message)
            for _ in burst:
                reply = await peer.receive()
                assert reply["type"] == "error", reply
                assert reply["code"] in ERROR_CODES and reply["message"], reply
        except websockets.ConnectionClosed:
            code = peer.ws.close_code
            assert code in DOCUMENTED_CLOSE_CODES, code
            closes.add(code)
            peer = await connect()
        sent += len(burst)
    await peer.close()
    return closes


async def test_malformed_messages_get_errors_and_a_healthy_call_goes_on(
    start_signaling: StartSignaling,
) -> None:
    # A tight rate limit so that the fuzzers also hit too-fast (and 4429).
    signaling = await start_signaling(
        rate_limit_per_second=200, rate_limit_burst=40, rate_limit_patience=10
    )
    stop = asyncio.Event()
    call = asyncio.create_task(_healthy_call(signaling, rounds=10_000, stop=stop))
    closes = await asyncio.gather(
        _fuzz(signaling, joined=True, seed=1, count=600),
        _fuzz(signaling, joined=False, seed=2, count=600),
        _fuzz(signaling, joined=True, seed=3, count=600),
    )
    stop.set()
    relayed = await asyncio.wait_for(call, 30)
    assert relayed >= 20
    seen = set().union(*closes)
    assert 4413 in seen  # the oversized messages were refused with the documented code
