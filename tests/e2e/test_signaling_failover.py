"""Live calls survive signaling processes dying and being restarted one by one.

Three signaling processes behind the gateway share the rooms through a Kafka consumer group;
each call is two aiortc peers (clinician and client) that reconnect and resume by themselves,
as the web client does. A process killed with SIGKILL: every call on it gets its signaling
channel back on another process with the same members, nobody waits or is admitted again,
and video keeps flowing throughout (media is peer to peer). A rolling restart (SIGTERM each
process in turn): no call is lost, re-admitted or ended. A process killed while clients wait:
they still wait, in the same order, on the new owner.

``CALLS`` is sized for the suite on two shared cores (``RAPPORT_E2E_FAILOVER_CALLS`` raises
it; bench/bench_signaling_failover.py runs the issue's 20 calls and prints the timings).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.e2e.flows import (
    User,
    admit,
    book,
    check_in,
    eventually,
    frames_flow,
    join_as_clinician,
    participant,
    sign_up,
)
from tests.e2e.peers import Participant
from tests.e2e.system import RapportSystem

pytestmark = pytest.mark.e2e

CALLS = int(os.environ.get("RAPPORT_E2E_FAILOVER_CALLS", "6"))


@pytest.fixture(scope="module")
def three(kafka_bootstrap: str, postgres_server, tmp_path_factory) -> Iterator[RapportSystem]:  # type: ignore[no-untyped-def]
    """The whole system with three signaling processes, for this module alone (its processes
    are killed and restarted)."""
    log_dir: Path = tmp_path_factory.mktemp("failover-logs")
    system = RapportSystem(
        kafka_bootstrap=kafka_bootstrap,
        postgres=postgres_server,
        log_dir=log_dir,
        signaling_processes=3,
    )
    try:
        system.start()
        for name in system.signaling_names:
            system._wait_ready(name, path="/readyz")  # noqa: SLF001 - each holds its share
        yield system
    finally:
        system.stop()
    leaks = system.leaks()
    assert not leaks, "secrets in the processes' logs:\n" + "\n".join(leaks)


@dataclass
class Call:
    session_id: str
    clinician_user: User
    client_user: User
    clinician: Participant
    client: Participant

    @property
    def peers(self) -> tuple[Participant, Participant]:
        return self.clinician, self.client


async def _start_call(rapport: RapportSystem, http: httpx.AsyncClient) -> Call:
    clinician_user = await sign_up(http, "clinician")
    client_user = await sign_up(http, "client")
    session_id = (await book(http, clinician_user, client_user))["session_id"]
    clinician = await participant(rapport, http, clinician_user, session_id, "clinician")
    client = await participant(rapport, http, client_user, session_id, "client")
    waiting = await check_in(client, "Sam")
    assert waiting["type"] == "waiting", waiting
    await join_as_clinician(clinician, client_user.id)
    await admit(clinician, client, client_user.id)
    await clinician.offer()
    await frames_flow(clinician, client)
    for peer in (clinician, client):
        await peer.send({"type": "connected"})
        peer.auto_resume = True
    return Call(session_id, clinician_user, client_user, clinician, client)


async def _holders(rapport: RapportSystem, http: httpx.AsyncClient) -> dict[str, str]:
    """Which live signaling process holds each session's room."""
    held: dict[str, str] = {}
    for name in rapport.signaling_names:
        if rapport.processes[name].poll() is not None:
            continue
        rooms = (await http.get(f"{rapport.url(name)}/ops/rooms")).json()["rooms"]
        held.update({room["session_id"]: name for room in rooms})
    return held


async def _channel_works(call: Call) -> None:
    """A relay from the clinician reaches the client: both are members of the same room, in
    the same process, now. Sent again until it arrives (a socket may be mid-resume)."""
    clinician_id = call.clinician_user.id

    async def probe() -> bool:
        arrived = len([m for m in call.client.seen if _probe_from(m, clinician_id)])
        try:
            await call.clinician.send(
                {"type": "ice-candidate", "candidate": None, "to": call.client_user.id}
            )
        except Exception:  # noqa: BLE001 - the socket is being replaced; try again
            return False
        for _ in range(20):
            if len([m for m in call.client.seen if _probe_from(m, clinician_id)]) > arrived:
                return True
            await asyncio.sleep(0.05)
        return False

    await eventually(probe, timeout=60.0, interval=0.1)


def _probe_from(message: dict[str, Any], user_id: str) -> bool:
    return (
        message.get("type") == "ice-candidate"
        and message.get("from") == user_id
        and message.get("candidate") is None
    )


def _assert_never_sent_back(call: Call) -> None:
    """Once admitted, the client never waited again, was never admitted again, and nobody
    was told the call ended or that someone left."""
    client_seen = call.client.seen
    first_joined = next(i for i, m in enumerate(client_seen) if m["type"] == "joined")
    after = client_seen[first_joined + 1 :]
    assert not [m for m in after if m["type"] in ("waiting", "sent-back", "ended")], after
    assert all(m.get("resumed") for m in after if m["type"] == "joined"), after
    for peer in call.peers:
        types = [m["type"] for m in peer.seen]
        assert "peer-left" not in types and "ended" not in types, (peer.name, types)
        for resumed in (r for _, _, r in peer.resumptions):
            assert resumed["type"] == "joined" and resumed.get("resumed"), resumed
            assert [p["user_id"] for p in resumed["peers"]] == [
                (call.client_user if peer is call.clinician else call.clinician_user).id
            ]


async def _end(call: Call) -> None:
    """The clinician ends the call, sending ``end`` again if the room moves first.

    A room can still be handed over after the last restart: the new process holds its
    partitions (its /readyz) before the old owner has passed their rooms on. The web client
    resends an action the socket lost, and so does this. Both peers keep resuming: the close
    that follows ``ended`` (4008) is not one they resume after."""
    clinician = call.clinician

    async def ended_or_moved(resumed: int) -> bool:
        return len(clinician.resumptions) > resumed or any(
            m["type"] == "ended" for m in clinician.seen
        )

    while not any(m["type"] == "ended" for m in clinician.seen):
        resumed = len(clinician.resumptions)
        with suppress(websockets.ConnectionClosed):
            await clinician.send({"type": "end"})
        await eventually(partial(ended_or_moved, resumed), timeout=60)


async def _end_and_check_records(http: httpx.AsyncClient, calls: list[Call]) -> None:
    await asyncio.gather(*(_end(call) for call in calls))
    for call in calls:
        assert (await call.client.expect("ended", timeout=30))["reason"] == "ended"

    async def completed(call: Call) -> dict[str, Any] | None:
        response = await http.get(
            f"/v1/sessions/{call.session_id}", headers=call.clinician_user.headers
        )
        assert response.status_code == 200, response.text
        record: dict[str, Any] = response.json()
        return record if record["status"] == "completed" else None

    for call in calls:
        record = await eventually(lambda call=call: completed(call), timeout=60)  # type: ignore[misc]
        attendees = {a["user_id"]: a for a in record["attendees"]}
        assert set(attendees) == {call.clinician_user.id, call.client_user.id}, record
        for moment in ["checked_in_at", "admitted_at", "connected_at", "ended_at"]:
            assert record[moment], f"{moment} missing from {record}"
        assert record["outcome"] == "completed"


async def _close(calls: list[Call]) -> None:
    for call in calls:
        for peer in call.peers:
            peer.auto_resume = False
    await asyncio.gather(*(p.close() for c in calls for p in c.peers), return_exceptions=True)


async def test_calls_survive_a_signaling_process_killed_with_sigkill(
    three: RapportSystem,
) -> None:
    async with httpx.AsyncClient(base_url=three.gateway_url, timeout=30) as http:
        calls = list(await asyncio.gather(*(_start_call(three, http) for _ in range(CALLS))))
        try:
            await frames_flow(*(p for c in calls for p in c.peers))
            holders = await _holders(three, http)
            assert {c.session_id for c in calls} <= set(holders)
            victim = max(
                three.signaling_names,
                key=lambda n: sum(holders[c.session_id] == n for c in calls),
            )
            moved = [c for c in calls if holders[c.session_id] == victim]
            stayed = [c for c in calls if holders[c.session_id] != victim]
            assert moved, holders

            three.signal(victim, signal.SIGKILL)
            await asyncio.to_thread(three.wait_exit, victim)
            # Media is peer to peer: frames keep coming while the rooms have no owner.
            await frames_flow(*(p for c in calls for p in c.peers), at_least=15)
            for call in moved:
                for peer in call.peers:
                    await peer.wait_resumed(1, timeout=60)
            await asyncio.gather(*(_channel_works(c) for c in calls))
            await frames_flow(*(p for c in calls for p in c.peers), at_least=15)

            after = await _holders(three, http)
            assert {after[c.session_id] for c in moved} <= set(three.signaling_names) - {victim}
            # Only the dead process's rooms moved; the others never noticed.
            assert all(not p.resumptions for c in stayed for p in c.peers)
            for call in calls:
                _assert_never_sent_back(call)
            await _end_and_check_records(http, calls)
        finally:
            await _close(calls)
        await asyncio.to_thread(three.spawn_signaling, victim)


async def test_a_rolling_restart_loses_no_call(three: RapportSystem) -> None:
    async with httpx.AsyncClient(base_url=three.gateway_url, timeout=30) as http:
        calls = list(await asyncio.gather(*(_start_call(three, http) for _ in range(CALLS))))
        try:
            await frames_flow(*(p for c in calls for p in c.peers))
            for name in three.signaling_names:
                three.signal(name, signal.SIGTERM)
                # Waited for in a thread: the clients live on this event loop, and a client
                # frozen while a process restarts (tens of seconds on a loaded machine) comes
                # back after its resume grace period, as no real client would.
                exited = await asyncio.to_thread(three.wait_exit, name)
                # uvicorn exits by re-raising the SIGTERM it handled, once it has drained.
                assert exited in (0, -signal.SIGTERM)
                await asyncio.to_thread(three.spawn_signaling, name)
                await asyncio.gather(*(_channel_works(c) for c in calls))
            await frames_flow(*(p for c in calls for p in c.peers), at_least=15)
            # Every call moved at least once (each process was restarted).
            assert all(p.resumptions for c in calls for p in c.peers)
            for call in calls:
                _assert_never_sent_back(call)
            await _end_and_check_records(http, calls)
        finally:
            await _close(calls)


async def test_waiting_clients_keep_their_place_when_the_owner_dies(
    three: RapportSystem,
) -> None:
    async with httpx.AsyncClient(base_url=three.gateway_url, timeout=30) as http:
        clinician_user = await sign_up(http, "clinician")
        client_user = await sign_up(http, "client")
        guest_user = await sign_up(http, "client")

        async def booked() -> str | None:
            # Records learns of the guest, too, from identity's event: retry until it has.
            try:
                appointment = await book(
                    http,
                    clinician_user,
                    client_user,
                    max_participants=3,
                    invited_participant_ids=[guest_user.id],
                )
            except AssertionError as refused:
                assert "not a registered user" in str(refused), refused
                return None
            return str(appointment["session_id"])

        session_id = await eventually(booked)
        client = await participant(three, http, client_user, session_id, "client")
        guest = await participant(three, http, guest_user, session_id, "guest")
        clinician = await participant(three, http, clinician_user, session_id, "clinician")
        try:
            first = await check_in(client, "Sam")
            second = await check_in(guest, "Ana")
            assert first["type"] == second["type"] == "waiting"
            assert first["since"] < second["since"]
            for peer in (client, guest):
                peer.auto_resume = True

            holder = (await _holders(three, http))[session_id]
            three.signal(holder, signal.SIGKILL)
            await asyncio.to_thread(three.wait_exit, holder)
            back = [await p.wait_resumed(1, timeout=60) for p in (client, guest)]
            assert [b["type"] for b in back] == ["waiting", "waiting"]
            assert all(b.get("resumed") for b in back), back
            assert [b["since"] for b in back] == [first["since"], second["since"]]
            assert (await _holders(three, http))[session_id] != holder

            # The clinician, arriving at the new owner, sees them in the order they came.
            joined = await clinician.connect("Dr. Lee")
            assert joined["type"] == "joined"
            queue = joined.get("waiting") or []
            assert [(w["user_id"], w["since"]) for w in queue] == [
                (client_user.id, first["since"]),
                (guest_user.id, second["since"]),
            ]
        finally:
            for peer in (client, guest):
                peer.auto_resume = False
            await asyncio.gather(
                *(p.close() for p in (client, guest, clinician)), return_exceptions=True
            )
        await asyncio.to_thread(three.spawn_signaling, holder)
