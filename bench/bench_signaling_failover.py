"""How long a room's signaling channel is down when its signaling process dies or drains.

The whole system (real Kafka, PostgreSQL, every service, three signaling processes behind the
gateway), ``--rooms`` rooms each with a clinician and an admitted client joined through the
gateway, the first ``--calls`` of them with live aiortc video. Then:

1. kill -9 of the process holding the most rooms: for each of its rooms, the time from the
   kill to both members being back in the room on a new owner (failure detection is the
   group's session timeout, 6 s by default); video frames must keep arriving meanwhile;
2. the killed process is started again, then another is drained (SIGTERM), while
   ``--joins`` clients of fresh sessions join: for each drained room the time its channel
   was down (from the `move` to both members resumed) and from the SIGTERM; for each join,
   the time to its `waiting` answer during that rebalance.

Prints p50/p95/max for each. Usage::

    uv run --frozen python bench/bench_signaling_failover.py [--rooms 60] [--calls 20] [--joins 30]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import _table  # noqa: E402
from devservers.postgres.launcher import PostgresServer  # noqa: E402
from tests.e2e.flows import (  # noqa: E402
    admit,
    book,
    check_in,
    frames_flow,
    join_as_clinician,
    participant,
    sign_up,
)
from tests.e2e.peers import Participant  # noqa: E402
from tests.e2e.system import RapportSystem  # noqa: E402


class Room:
    def __init__(self, session_id: str, clinician: Participant, client: Participant) -> None:
        self.session_id = session_id
        self.clinician = clinician
        self.client = client

    @property
    def peers(self) -> tuple[Participant, Participant]:
        return self.clinician, self.client


async def _room(rapport: RapportSystem, http: httpx.AsyncClient, media: bool) -> Room:
    clinician_user = await sign_up(http, "clinician")
    client_user = await sign_up(http, "client")
    session_id = (await book(http, clinician_user, client_user))["session_id"]
    clinician = await participant(rapport, http, clinician_user, session_id, "clinician")
    client = await participant(rapport, http, client_user, session_id, "client")
    await check_in(client, "Sam")
    await join_as_clinician(clinician, client_user.id)
    await admit(clinician, client, client_user.id)
    if media:
        await clinician.offer()
        await frames_flow(clinician, client, timeout=120)
    for peer in (clinician, client):
        peer.auto_resume = True
    return Room(session_id, clinician, client)


async def _holders(rapport: RapportSystem, http: httpx.AsyncClient) -> dict[str, str]:
    held: dict[str, str] = {}
    for name in rapport.signaling_names:
        if rapport.processes[name].poll() is not None:
            continue
        rooms = (await http.get(f"{rapport.url(name)}/ops/rooms")).json()["rooms"]
        held.update({room["session_id"]: name for room in rooms})
    return held


async def _back(rooms: list[Room], before: dict[int, int]) -> None:
    await asyncio.gather(
        *(p.wait_resumed(before[id(p)] + 1, timeout=120) for r in rooms for p in r.peers)
    )


def _summary(label: str, seconds: list[float]) -> str:
    if not seconds:
        return f"{label:<48} (none)"
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"{label:<48} n={len(ordered):<3} p50={statistics.median(ordered) * 1000:7.0f} ms  "
        f"p95={p95 * 1000:7.0f} ms  max={ordered[-1] * 1000:7.0f} ms"
    )


def _p95_figure(name: str, seconds: list[float], target: str) -> _table.Figure:
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] if ordered else 0.0
    return _table.Figure(
        bench="signaling_failover",
        name=name,
        value=p95 * 1000,
        unit="ms",
        samples=len(ordered),
        target=target,
        higher_is_better=False,
    )


async def _join_timed(rapport: RapportSystem, http: httpx.AsyncClient, pending: tuple) -> float:  # type: ignore[type-arg]
    session_id, client_user = pending
    started = time.monotonic()
    while True:
        client = await participant(rapport, http, client_user, session_id, "late client")
        try:
            answer = await client.connect("Kim")
            assert answer["type"] == "waiting", answer
            return time.monotonic() - started
        except ConnectionError as closed:
            # 4012: it reached the process giving the room up; the gateway routes again.
            assert "4012" in str(closed), closed
        finally:
            await client.close()


async def run(rapport: RapportSystem, args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    # Short keep-alive: the gateway drops idle connections after 5 s, and a request sent into
    # one it is closing fails.
    limits = httpx.Limits(keepalive_expiry=1.0)
    async with httpx.AsyncClient(base_url=rapport.gateway_url, timeout=60, limits=limits) as http:
        pending = []
        for _ in range(args.joins):
            clinician_user = await sign_up(http, "clinician")
            client_user = await sign_up(http, "client")
            session_id = (await book(http, clinician_user, client_user))["session_id"]
            pending.append((session_id, client_user))
        rooms: list[Room] = []
        for start in range(0, args.rooms, 10):
            batch = range(start, min(start + 10, args.rooms))
            rooms += await asyncio.gather(*(_room(rapport, http, i < args.calls) for i in batch))
        media = [p for r in rooms[: args.calls] for p in r.peers]
        print(f"{len(rooms)} rooms ({args.calls} with video) over 3 signaling processes")

        # 1. kill -9
        holders = await _holders(rapport, http)
        victim = max(rapport.signaling_names, key=lambda n: list(holders.values()).count(n))
        moved = [r for r in rooms if holders.get(r.session_id) == victim]
        before = {id(p): len(p.resumptions) for r in rooms for p in r.peers}
        killed_at = loop.time()
        rapport.signal(victim, signal.SIGKILL)
        if media:
            await frames_flow(*media, at_least=15, timeout=120)
            during = "video kept flowing while the rooms had no owner"
        else:
            during = "no video"
        await _back(moved, before)
        kill = [max(p.resumptions[before[id(p)]][1] for p in r.peers) - killed_at for r in moved]
        if media:
            await frames_flow(*media, at_least=15, timeout=120)
        rapport.wait_exit(victim)
        await asyncio.to_thread(rapport.spawn_signaling, victim)

        # 2. drain, with joins during the rebalance
        holders = await _holders(rapport, http)
        drained = max(
            (n for n in rapport.signaling_names if n != victim),
            key=lambda n: list(holders.values()).count(n),
        )
        moving = [r for r in rooms if holders.get(r.session_id) == drained]
        before = {id(p): len(p.resumptions) for r in rooms for p in r.peers}
        terminated_at = loop.time()
        rapport.signal(drained, signal.SIGTERM)
        joins = await asyncio.gather(*(_join_timed(rapport, http, p) for p in pending))
        await _back(moving, before)
        drain_from_sigterm = [
            max(p.resumptions[before[id(p)]][1] for p in r.peers) - terminated_at for r in moving
        ]
        drain_down = [
            max(p.resumptions[before[id(p)]][1] for p in r.peers)
            - min(p.resumptions[before[id(p)]][0] for p in r.peers)
            for r in moving
        ]
        rapport.wait_exit(drained)
        if media:
            await frames_flow(*media, at_least=15, timeout=120)

        print(f"kill -9: {len(moved)} rooms moved off {victim}; {during}")
        print(_summary("kill -9: kill -> channel back", kill))
        print(f"drain: {len(moving)} rooms moved off {drained}")
        print(_summary("drain: channel down (move -> back)", drain_down))
        print(_summary("drain: SIGTERM -> channel back", drain_from_sigterm))
        print(_summary("join during the drain's rebalance", list(joins)))
        _table.report(
            [
                _p95_figure("kill -9 -> channel back, p95", kill, "≤ detection (6 s) + 1 s"),
                _p95_figure("drain: channel down (move -> back), p95", drain_down, "≤ 1 s"),
                _p95_figure("drain: SIGTERM -> channel back, p95", drain_from_sigterm, ""),
                _p95_figure("join during the drain's rebalance, p95", list(joins), ""),
            ]
        )
        for r in rooms:
            for p in r.peers:
                p.auto_resume = False
        await asyncio.gather(*(p.close() for r in rooms for p in r.peers), return_exceptions=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rooms", type=int, default=60)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--joins", type=int, default=30)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench-failover-")
    print(f"process logs in {tmp}")
    with _table.kafka() as kafka_bootstrap:
        postgres = PostgresServer()
        postgres.start()
        rapport = RapportSystem(
            kafka_bootstrap=kafka_bootstrap,
            postgres=postgres,
            log_dir=Path(tmp),
            signaling_processes=3,
        )
        try:
            rapport.start()
            for name in rapport.signaling_names:
                rapport._wait_ready(name, path="/readyz")  # noqa: SLF001
            asyncio.run(run(rapport, args))
        finally:
            rapport.stop()
            postgres.stop()


if __name__ == "__main__":
    main()
