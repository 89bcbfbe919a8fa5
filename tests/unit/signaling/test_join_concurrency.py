"""A join storm is worked through a few joins at a time (``join_concurrency``), so that its
short-lived objects do not fragment the memory the idle sockets stay in."""

from __future__ import annotations

import asyncio
import uuid

import jwt

from shared.tokens import KeySource
from tests.support.tokens import TestTokenIssuer
from tests.unit.signaling.conftest import Peer, StartSignaling


class HeldKeys:
    """The issuer's keys, handed out only when the test lets them go; counts the token
    verifications waiting for a key at once."""

    def __init__(self, keys: KeySource) -> None:
        self._keys = keys
        self.waiting = 0
        self.most_waiting = 0
        self.released = asyncio.Event()
        self.changed = asyncio.Condition()

    async def get(self, kid: str) -> jwt.PyJWK | None:
        async with self.changed:
            self.waiting += 1
            self.most_waiting = max(self.most_waiting, self.waiting)
            self.changed.notify_all()
        try:
            await self.released.wait()
        finally:
            self.waiting -= 1
        return await self._keys.get(kid)

    async def until_waiting(self, count: int) -> None:
        async with asyncio.timeout(5), self.changed:
            await self.changed.wait_for(lambda: self.waiting >= count)


async def test_joins_beyond_the_limit_wait_their_turn_and_all_get_in(
    start_signaling: StartSignaling, issuer: TestTokenIssuer
) -> None:
    keys = HeldKeys(issuer.key_source)
    issuer.key_source = keys  # type: ignore[assignment]
    signaling = await start_signaling(join_concurrency=2)
    peers: list[Peer] = []
    for _ in range(5):
        clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
        session_id = await signaling.schedule(clinician_id, client_id)
        peer = await signaling.connect()
        await peer.send(
            {"type": "join", "token": issuer.signaling(client_id, "client", session_id)}
        )
        peers.append(peer)

    try:
        await keys.until_waiting(2)
        # Time for the other three joins to arrive: without the limit they would be verifying
        # too.
        await asyncio.sleep(0.3)
        assert keys.waiting == 2
    finally:
        keys.released.set()
    for peer in peers:
        await peer.expect("waiting")
    assert keys.most_waiting == 2
