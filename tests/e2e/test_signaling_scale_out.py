"""Two signaling processes behind the gateway: rooms spread over both, and never split.

Forty sessions, each with its clinician and client joining through the gateway on their own
sockets. Each process lists the rooms it holds on its own port (``/ops/rooms``): every
session shows up in exactly one process, with both participants there, and both processes
hold some of them.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.flows import User, book, eventually, sign_up, signal_url, signaling_token
from tests.e2e.system import RapportSystem

pytestmark = pytest.mark.e2e

SESSIONS = 40
SUBPROTOCOL = "rapport.signal.v1"


class SignalingClient:
    """A participant's signaling socket only (no media): enough to meet in a room."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self.ws: websockets.ClientConnection | None = None

    async def join(self) -> dict[str, Any] | None:
        """Join; None (and the socket closed) while signaling does not know the session."""
        self.ws = await websockets.connect(self.url, subprotocols=[SUBPROTOCOL], compression=None)  # type: ignore[list-item]
        await self.ws.send(json.dumps({"type": "join", "token": self.token}))
        try:
            return await self.receive()
        except websockets.ConnectionClosed:
            assert self.ws.close_code == 4004, self.ws.close_code  # not projected yet
            return None

    async def receive(self, within: float = 15.0) -> dict[str, Any]:
        assert self.ws is not None
        async with asyncio.timeout(within):
            message: dict[str, Any] = json.loads(await self.ws.recv())
        return message

    async def expect(self, message_type: str) -> dict[str, Any]:
        while True:
            message = await self.receive()
            if message["type"] == message_type:
                return message

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


async def _meet(
    rapport: RapportSystem, http: httpx.AsyncClient, clinician: User, client: User
) -> tuple[str, SignalingClient, SignalingClient]:
    session_id = (await book(http, clinician, client))["session_id"]
    url = signal_url(rapport, session_id)
    client_socket = SignalingClient(url, await signaling_token(http, client, session_id))
    clinician_socket = SignalingClient(url, await signaling_token(http, clinician, session_id))
    waiting = await eventually(client_socket.join)
    assert waiting["type"] == "waiting"
    joined = await clinician_socket.join()
    assert joined is not None and joined["type"] == "joined"
    assert clinician_socket.ws is not None
    await clinician_socket.ws.send(json.dumps({"type": "admit", "user_id": client.id}))
    admitted = await client_socket.expect("joined")
    # Each one sees the other in the same room: they met in the same process.
    assert [p["user_id"] for p in admitted["peers"]] == [clinician.id]
    peer_joined = await clinician_socket.expect("peer-joined")
    assert peer_joined["peer"]["user_id"] == client.id
    return session_id, clinician_socket, client_socket


async def test_sessions_spread_over_both_processes_and_each_room_stays_whole(
    rapport: RapportSystem,
) -> None:
    assert len(rapport.signaling_names) == 2
    sockets: list[SignalingClient] = []
    async with httpx.AsyncClient(base_url=rapport.gateway_url, timeout=30) as http:
        clinicians = [await sign_up(http, "clinician") for _ in range(SESSIONS)]
        clients = [await sign_up(http, "client") for _ in range(SESSIONS)]
        try:
            met = await asyncio.gather(
                *(_meet(rapport, http, c, k) for c, k in zip(clinicians, clients, strict=True))
            )
            for _, clinician_socket, client_socket in met:
                sockets += [clinician_socket, client_socket]
            sessions = {session_id for session_id, _, _ in met}
            assert len(sessions) == SESSIONS

            holders: dict[str, list[str]] = {session_id: [] for session_id in sessions}
            per_process: Counter[str] = Counter()
            for name in rapport.signaling_names:
                held = (await http.get(f"{rapport.url(name)}/ops/rooms")).json()["rooms"]
                for room in held:
                    if room["session_id"] in holders:
                        holders[room["session_id"]].append(name)
                        per_process[name] += 1
                        assert room["participants"] == 2, (name, room)
        finally:
            await asyncio.gather(*(s.close() for s in sockets))

    split_or_missing = {s: names for s, names in holders.items() if len(names) != 1}
    assert split_or_missing == {}
    print(f"\n{SESSIONS} sessions over {len(per_process)} signaling processes: {dict(per_process)}")
    assert set(per_process) == set(rapport.signaling_names), per_process
