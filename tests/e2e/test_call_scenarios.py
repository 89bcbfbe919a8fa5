"""The waiting room and the call on real networks, end to end through the gateway.

Real aiortc peers exchange video; the signaling sockets go through the gateway to one of two
signaling processes. Each scenario is what a nervous first-time client may well do: lose the
network mid-call, open the link on a second device, be turned away, arrive with others.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.flows import (
    User,
    admit,
    book,
    check_in,
    frames_flow,
    join_as_clinician,
    participant,
    sign_up,
    signaling_token,
)
from tests.e2e.peers import Participant
from tests.e2e.system import RapportSystem

pytestmark = pytest.mark.e2e

REPLACED = 4010
FORBIDDEN = 4003


@dataclass
class Call:
    """A booked session with its clinician joined and its client waiting (not admitted)."""

    http: httpx.AsyncClient
    session_id: str
    clinician: User
    client: User
    clinician_peer: Participant
    client_peer: Participant

    async def admitted_with_video(self) -> None:
        await admit(self.clinician_peer, self.client_peer, self.client.id)
        await self.clinician_peer.offer()
        await self.clinician_peer.expect("answer")
        await frames_flow(self.clinician_peer, self.client_peer)


@pytest.fixture
async def call(rapport: RapportSystem) -> AsyncIterator[Call]:
    async with httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http:
        clinician = await sign_up(http, "clinician")
        client = await sign_up(http, "client")
        session_id = (await book(http, clinician, client))["session_id"]
        client_peer = await participant(rapport, http, client, session_id, "client")
        clinician_peer = await participant(rapport, http, clinician, session_id, "clinician")
        peers = [client_peer, clinician_peer]
        try:
            assert (await check_in(client_peer, "Sam"))["type"] == "waiting"
            await join_as_clinician(clinician_peer, client.id)
            yield Call(http, session_id, clinician, client, clinician_peer, client_peer)
        finally:
            for peer in peers:
                await peer.close()


async def test_a_network_drop_resumes_within_the_grace_period(
    call: Call, rapport: RapportSystem
) -> None:
    await call.admitted_with_video()

    call.client_peer.drop_socket()  # no close frame: the network went away
    reconnecting = await call.clinician_peer.expect("peer-reconnecting")
    assert reconnecting["user_id"] == call.client.id
    assert (await call.client_peer.expect("__closed__"))["code"] != REPLACED

    # Back on a new socket (a new signaling token, as a reloaded page would get) within 20 s.
    call.client_peer.messages = asyncio.Queue()
    call.client_peer.token = await signaling_token(call.http, call.client, call.session_id)
    resumed = await call.client_peer.connect("Sam")
    assert resumed["type"] == "joined", resumed  # not the waiting room
    assert resumed["resumed"] is True
    assert [p["user_id"] for p in resumed["peers"]] == [call.clinician.id]
    back = await call.clinician_peer.expect("peer-back")
    assert back["user_id"] == call.client.id

    # The relay works on the new socket: the impolite clinician negotiates again, and the
    # media (which never went through signaling) keeps flowing.
    await call.clinician_peer.offer()
    answer = await call.clinician_peer.expect("answer")
    assert answer["from"] == call.client.id
    await frames_flow(call.clinician_peer, call.client_peer)


async def test_a_second_connection_of_the_same_identity_takes_over(
    call: Call, rapport: RapportSystem
) -> None:
    await call.admitted_with_video()

    second_device = await participant(
        rapport, call.http, call.client, call.session_id, "client (second device)"
    )
    try:
        arrived = await second_device.connect("Sam")
        closed = await call.client_peer.expect("__closed__")
        assert closed["code"] == REPLACED
        # A takeover is a new arrival, not a resume: back through the waiting room.
        assert arrived["type"] == "waiting"
        left = await call.clinician_peer.expect("peer-left")
        assert left["user_id"] == call.client.id
        room = await call.clinician_peer.expect("waiting-room")
        while call.client.id not in [w["user_id"] for w in room["waiting"]]:
            room = await call.clinician_peer.expect("waiting-room")

        await admit(call.clinician_peer, second_device, call.client.id)
        # A new device is a new peer: the clinician negotiates a fresh peer connection.
        await call.clinician_peer.new_peer_connection()
        await call.clinician_peer.offer()
        await call.clinician_peer.expect("answer")
        await frames_flow(call.clinician_peer, second_device)
    finally:
        await second_device.close()


async def test_the_clinician_declines_a_waiting_client(call: Call) -> None:
    await call.clinician_peer.send({"type": "decline", "user_id": call.client.id})
    assert (await call.client_peer.expect("declined"))["type"] == "declined"
    assert (await call.client_peer.expect("__closed__"))["code"] == FORBIDDEN
    room = await call.clinician_peer.expect("waiting-room")
    assert room["waiting"] == []


async def test_admit_all_lets_the_waiting_client_in_with_video(call: Call) -> None:
    await call.clinician_peer.send({"type": "admit-all"})
    admitted = await call.client_peer.expect("joined")
    assert admitted["polite"] is True
    await call.clinician_peer.expect("peer-joined")
    assert (await call.clinician_peer.expect("waiting-room"))["waiting"] == []
    await call.clinician_peer.offer()
    await call.clinician_peer.expect("answer")
    await frames_flow(call.clinician_peer, call.client_peer)


async def test_admit_all_admits_two_waiting_participants_of_a_group_appointment(
    rapport: RapportSystem,
) -> None:
    async with httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http:
        clinician = await sign_up(http, "clinician")
        client = await sign_up(http, "client")
        interpreter = await sign_up(http, "client")
        appointment = await book(
            http, clinician, client, max_participants=3, invited_participant_ids=[interpreter.id]
        )
        session_id = appointment["session_id"]
        client_peer = await participant(rapport, http, client, session_id, "client")
        interpreter_peer = await participant(rapport, http, interpreter, session_id, "guest")
        clinician_peer = await participant(rapport, http, clinician, session_id, "clinician")
        try:
            assert (await check_in(client_peer, "Sam"))["type"] == "waiting"
            assert (await interpreter_peer.connect("Ana"))["type"] == "waiting"
            await join_as_clinician(clinician_peer, client.id)

            await clinician_peer.send({"type": "admit-all"})
            client_joined = await client_peer.expect("joined")
            interpreter_joined = await interpreter_peer.expect("joined")
            assert interpreter_joined["you"]["role"] == "guest"
            assert {p["user_id"] for p in interpreter_joined["peers"]} == {
                clinician.id,
                client.id,
            }
            assert [p["user_id"] for p in client_joined["peers"]] == [clinician.id]
            announced = await client_peer.expect("peer-joined")
            assert announced["peer"] == {"user_id": interpreter.id, "role": "guest"}

            # Video between the clinician and the client, addressed with ``to`` as in a mesh.
            await clinician_peer.offer(to=client.id)
            answer = await clinician_peer.expect("answer")
            assert answer["from"] == client.id
            await frames_flow(clinician_peer, client_peer)
            # The offer was addressed: the interpreter got none of it.
            assert all(
                m["type"] not in ("offer", "ice-candidate")
                for m in list(interpreter_peer.messages._queue)  # type: ignore[attr-defined]
            )
        finally:
            for peer in (client_peer, interpreter_peer, clinician_peer):
                await peer.close()
