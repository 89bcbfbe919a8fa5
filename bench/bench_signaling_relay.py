"""Relay latency at many concurrent rooms (B2): signaling, direct and through the gateway's
WebSocket hop, against a bare websockets relay.

Each server runs in its own process; so do the load generators (``--load-processes``, rooms
split between them, both peers of a room in the same one). A room is a pair of sockets: in
signaling a clinician and an admitted client of one session (authenticated, through the
waiting room), in the bare relay two sockets that named the same room in their first message
(each message is forwarded to the other). Once every pair is connected, all rooms start
together:

- burst: each room starts within the first half second; its clinician sends an offer, its
  client an answer, and each peer 10 ICE candidates, 40 ms apart (every room's offer, answer
  and candidates in the first second);
- steady: then ``--steady-seconds`` of 2 candidates a second per peer.

Every message carries its send time (CLOCK_MONOTONIC, the same clock in every process); its
latency is to the other peer's receive. p50/p99/p99.9 for each phase, and the server's CPU
(the signaling process, plus the gateway's for the hop; /proc utime+stime) over each phase,
as % of one core. Prints figures; passes or fails nothing.

    uv run python bench/bench_signaling_relay.py [--rooms 500 1000] [--paths direct gateway]
        [--steady-seconds 20] [--load-processes 2] [--rounds 1] [--ws served]
        [--gateway-ping-timeout 20] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import _table  # noqa: E402
from bench.bench_signaling_idle import (  # noqa: E402
    MIGRATIONS,
    SUBPROTOCOL,
    _free_port,
    _schedule,
    _serve_signaling,
    _wait_listening,
    kafka_for_ownership,
    wait_owning,
)


def _serve_bare_relay(port: int) -> None:
    import uvloop

    rooms: dict[str, list[Any]] = {}

    async def handler(ws: Any) -> None:
        room = await ws.recv()
        members = rooms.setdefault(room, [])
        members.append(ws)
        await ws.send('{"type":"ready"}')
        try:
            async for message in ws:
                for other in members:
                    if other is not ws:
                        await other.send(message)
        finally:
            members.remove(ws)

    async def main() -> None:
        async with websockets.serve(
            handler, "127.0.0.1", port, compression=None, subprotocols=[SUBPROTOCOL]
        ):
            await asyncio.Future()

    uvloop.run(main())


async def _connect(url: str) -> Any:
    """A client socket; a handshake refused with a 5xx is tried again, twice, and said so (on
    a loaded machine the gateway answers 503 when signaling is slow to accept)."""
    for attempt in range(3):
        try:
            return await websockets.connect(
                url,
                subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
                compression=None,
                open_timeout=60,
                max_size=2**20,
                # The servers' keepalive is enough; a starved client's own would fail.
                ping_interval=None,
            )
        except websockets.InvalidStatus as refused:
            status = refused.response.status_code
            if status < 500 or attempt == 2:
                raise
            print(f"handshake refused with {status}, trying again", file=sys.stderr)
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def _until(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await ws.recv())
        if message["type"] == kind:
            return message


async def _pair_bare(url: str) -> tuple[Any, Any]:
    room = uuid.uuid4().hex
    a, b = await _connect(url), await _connect(url)
    for ws in (a, b):
        await ws.send(room)
        await _until(ws, "ready")
    return a, b


async def _pair_signaling(
    url: str, joins: tuple[str, str, str], *, connect_late: bool = False
) -> tuple[Any, Any]:
    """A clinician and a client admitted to the same room. ``connect_late``: the clinician's
    socket opens once the client waits, not with it (on a loaded machine the client's join can
    take longer than signaling waits for an open socket's first message)."""
    client_join, clinician_join, client_id = joins
    client = await _connect(url)
    clinician = None if connect_late else await _connect(url)
    await client.send(client_join)
    await _until(client, "waiting")
    clinician = clinician or await _connect(url)
    await clinician.send(clinician_join)
    await _until(clinician, "joined")
    await clinician.send(json.dumps({"type": "admit", "user_id": client_id}))
    await _until(client, "joined")
    await _until(clinician, "waiting-room")
    return clinician, client


def _token(pem: bytes, user: uuid.UUID, role: str, session_id: uuid.UUID) -> str:
    now = int(time.time())
    claims = {
        "iss": "rapport-identity", "aud": "rapport-signaling", "sub": str(user), "iat": now,
        "nbf": now, "exp": now + 3600, "jti": str(uuid.uuid4()), "role": role, "scope": "",
        "sid": str(session_id),
    }  # fmt: skip
    return jwt.encode(claims, pem, algorithm="EdDSA", headers={"kid": "bench"})


BURST_MESSAGES = 12  # an offer or an answer, then 10 ICE candidates
BURST_SPACING = 0.04  # seconds between a peer's burst messages
BURST_SPREAD = 0.5  # rooms start within this many seconds of each other
STEADY_INTERVAL = 0.5  # 2 messages a second per peer
PADDING = "x" * 180  # a candidate line is about 200 bytes


def _clock_ticks(pid: int) -> int:
    """User plus system CPU time of ``pid`` so far, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _message(kind: str, phase: str) -> str:
    stamp = f"{phase}:{time.monotonic()!r} {PADDING}"
    if kind in ("offer", "answer"):
        return json.dumps({"type": kind, "sdp": stamp})
    candidate = {"candidate": stamp, "sdpMid": "0", "sdpMLineIndex": 0}
    return json.dumps({"type": "ice-candidate", "candidate": candidate})


def _stamp(message: dict[str, Any]) -> str | None:
    if message.get("type") in ("offer", "answer"):
        return str(message["sdp"])
    candidate = message.get("candidate")
    if message.get("type") == "ice-candidate" and isinstance(candidate, dict):
        return str(candidate["candidate"])
    return None


async def _peer(
    sender: Any,
    receiver: Any,
    first: str,
    start: float,
    steady_seconds: float,
    latencies: dict[str, list[float]],
) -> None:
    """``sender``'s burst then steady messages to ``receiver``, whose receipts are timed."""
    expected = BURST_MESSAGES + int(steady_seconds / STEADY_INTERVAL)

    async def receive() -> None:
        got = 0
        while got < expected:
            # Bounded only against a hang (a lost message): fail the run, do not wait forever.
            stamp = _stamp(json.loads(await asyncio.wait_for(receiver.recv(), 300)))
            if stamp is None:
                continue  # presence and other room news
            phase, sent = stamp.split(" ", 1)[0].split(":")
            latencies[phase].append(time.monotonic() - float(sent))
            got += 1

    receiving = asyncio.create_task(receive())
    room_start = start + random.uniform(0, BURST_SPREAD)
    for n in range(BURST_MESSAGES):
        await asyncio.sleep(max(0.0, room_start + n * BURST_SPACING - time.monotonic()))
        await sender.send(_message(first if n == 0 else "candidate", "burst"))
    steady_start = start + 1.0 + random.uniform(0, STEADY_INTERVAL)
    for n in range(int(steady_seconds / STEADY_INTERVAL)):
        await asyncio.sleep(max(0.0, steady_start + n * STEADY_INTERVAL - time.monotonic()))
        await sender.send(_message("candidate", "steady"))
    await receiving


def _load_worker(
    url: str,
    rooms: list[tuple[str, str, str, str] | None],
    steady_seconds: float,
    ready: Any,
    start_at: Any,
    results: Any,
) -> None:
    """A load generator process: pairs its rooms, reports ready, waits for the common start
    (``start_at``, monotonic), runs burst and steady, puts its latencies on ``results``."""
    from bench.bench_signaling_idle import raise_open_files

    raise_open_files()

    async def main() -> dict[str, list[float]]:
        semaphore = asyncio.Semaphore(20)  # joins at once per load process: pairing is not measured

        async def pair(room: tuple[str, str, str, str] | None) -> tuple[Any, Any]:
            async with semaphore:
                if room is None:
                    return await _pair_bare(url)
                client_join, clinician_join, client_id, session_id = room
                room_url = f"{url}?session_id={session_id}"
                # Each socket opened just before its join: on a loaded machine the client's
                # join can take longer than signaling waits for an open socket's first join.
                return await _pair_signaling(
                    room_url, (client_join, clinician_join, client_id), connect_late=True
                )

        pairs = await asyncio.gather(*(pair(room) for room in rooms))
        ready.release()
        while start_at.value == 0:
            await asyncio.sleep(0.01)
        start = start_at.value
        latencies: dict[str, list[float]] = {"burst": [], "steady": []}
        await asyncio.gather(
            *(
                task
                for clinician, client in pairs
                for task in (
                    _peer(clinician, client, "offer", start, steady_seconds, latencies),
                    _peer(client, clinician, "answer", start, steady_seconds, latencies),
                )
            )
        )
        # Leave rather than drop: dropped members would leave when their grace period ends,
        # in the middle of the next run.
        for a, b in pairs:
            for ws in (a, b):
                if rooms[0] is not None:
                    await ws.send('{"type": "leave"}')
                await ws.close()
        return latencies

    import uvloop

    try:
        results.put(uvloop.run(main()))
    except Exception as error:  # noqa: BLE001 - reported to the main process, which fails the run
        results.put({"error": f"{type(error).__name__}: {error}"})
        raise


def _start_gateway(signaling_port: int, ping_timeout: float) -> tuple[subprocess.Popen[bytes], int]:
    """``python -m gateway`` in front of the one signaling process (no owners to follow)."""
    import httpx

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    env.update(
        RAPPORT_ENVIRONMENT="test",
        RAPPORT_LOG_LEVEL="WARNING",
        RAPPORT_GATEWAY_PORT=str(port),
        RAPPORT_GATEWAY_SIGNALING_URLS=f"http://127.0.0.1:{signaling_port}",
        RAPPORT_GATEWAY_SIGNALING_OWNERS="false",
        RAPPORT_GATEWAY_REVOCATIONS_ENABLED="false",
        RAPPORT_GATEWAY_WEBSOCKET_PING_TIMEOUT_SECONDS=str(ping_timeout),
    )
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-W", "ignore", "-m", "gateway"], env=env, cwd=ROOT
    )
    deadline = time.monotonic() + 90  # a loaded machine can take long to import it
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("gateway exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process, port
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("gateway did not start")


def _run_load(
    url: str,
    rooms: list[Any],
    args: argparse.Namespace,
    pids: list[int],
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """The rooms through ``url``, split over the load processes; latencies by phase, and the
    CPU (% of one core, summed over ``pids``) by phase."""
    ctx = multiprocessing.get_context("spawn")
    workers = max(1, min(args.load_processes, len(rooms)))
    ready = ctx.Semaphore(0)
    start_at = ctx.Value("d", 0.0)
    results = ctx.Queue()
    processes = [
        ctx.Process(
            target=_load_worker,
            args=(url, rooms[i::workers], args.steady_seconds, ready, start_at, results),
            daemon=True,
        )
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        while not ready.acquire(timeout=1):
            if not all(p.is_alive() for p in processes):
                for process in processes:
                    process.kill()
                raise RuntimeError("a load process died while connecting (its traceback above)")
    time.sleep(1.0)  # the joins' after-effects settle
    hz = os.sysconf("SC_CLK_TCK")
    start = time.monotonic() + 0.5
    start_at.value = start
    time.sleep(max(0.0, start - time.monotonic()))
    ticks = [sum(_clock_ticks(pid) for pid in pids)]
    for moment in (start + 1.0, start + 1.0 + args.steady_seconds):
        time.sleep(max(0.0, moment - time.monotonic()))
        ticks.append(sum(_clock_ticks(pid) for pid in pids))
    cpu = {
        "burst": (ticks[1] - ticks[0]) / hz * 100,
        "steady": (ticks[2] - ticks[1]) / hz / args.steady_seconds * 100,
    }
    latencies: dict[str, list[float]] = {"burst": [], "steady": []}
    for _ in processes:
        measured = results.get(timeout=900)  # only against a hang: a worker reports its error
        if "error" in measured:
            for process in processes:
                process.kill()
            raise RuntimeError(f"a load process failed: {measured['error']}")
        for phase, values in measured.items():
            latencies[phase].extend(values)
    for process in processes:
        process.join(timeout=60)
    return latencies, cpu


def _quantiles(seconds: list[float]) -> tuple[float, float, float]:
    """p50, p99, p99.9 in ms."""
    q = statistics.quantiles(seconds, n=1000, method="inclusive")
    return q[499] * 1000, q[989] * 1000, q[998] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rooms", type=int, nargs="+", default=[500, 1000])
    parser.add_argument(
        "--paths", nargs="+", choices=["direct", "gateway"], default=["direct", "gateway"]
    )
    parser.add_argument("--steady-seconds", type=float, default=20.0)
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="repeat bare, direct and gateway this many times, pooled (a shared machine is noisy)",
    )
    parser.add_argument(
        "--ws", default="served", help="uvicorn ws implementation; 'served': server_config's"
    )
    parser.add_argument(
        "--gateway-ping-timeout",
        type=float,
        default=20.0,
        help="the gateway's keepalive pong deadline on the clients' hop, seconds (its default, "
        "20): on a starved machine a load process's pong, queued behind its messages, can "
        "take longer and the gateway closes it with 1011",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does it still run")
    parser.add_argument(
        "--no-kafka", action="store_true", help="no broker: one process owns every room"
    )
    args = parser.parse_args()
    if args.quick:
        args.rooms, args.steady_seconds, args.load_processes, args.rounds = [4], 2.0, 2, 1
    with kafka_for_ownership(not args.no_kafka) as kafka_bootstrap:
        _run(args, kafka_bootstrap)


def _run(args: argparse.Namespace, kafka_bootstrap: str | None) -> None:
    from bench.bench_signaling_idle import raise_open_files
    from shared.migrations import upgrade

    raise_open_files()
    ctx = multiprocessing.get_context("spawn")
    private_key = Ed25519PrivateKey.generate()
    public_jwk = jwt.algorithms.OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    public_jwk.update(kid="bench", alg="EdDSA", use="sig")
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # (rooms, server) -> phase -> latencies over every round; and CPU % per round.
    latencies: dict[tuple[int, str], dict[str, list[float]]] = {}
    cpu: dict[tuple[int, str], dict[str, list[float]]] = {}
    servers = ["bare", *args.paths]
    failed: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        bare_port = _free_port()
        bare = ctx.Process(target=_serve_bare_relay, args=(bare_port,), daemon=True)
        bare.start()
        _wait_listening(bare_port, bare)

        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'signaling.db'}"
        upgrade(MIGRATIONS, database_url)
        # Fresh sessions for every run: a room whose sockets closed is not reused.
        runs = sum(args.rooms) * len(args.paths) * args.rounds
        sessions = [(uuid.uuid4(), uuid.uuid4(), uuid.uuid4()) for _ in range(runs)]
        asyncio.run(_schedule(database_url, sessions))
        unused = iter(sessions)
        port = _free_port()
        server = ctx.Process(
            target=_serve_signaling,
            args=(port, database_url, public_jwk, args.ws, kafka_bootstrap),
            daemon=True,
        )
        server.start()
        _wait_listening(port, server)
        wait_owning(port, server)
        gateway, gateway_port = (
            _start_gateway(port, args.gateway_ping_timeout)
            if "gateway" in args.paths
            else (None, 0)
        )
        assert bare.pid is not None and server.pid is not None
        try:
            for rooms in args.rooms:
                for _ in range(args.rounds):
                    for name in servers:
                        if name == "bare":
                            url, pids = f"ws://127.0.0.1:{bare_port}/", [bare.pid]
                            specs: list[Any] = [None] * rooms
                        else:
                            via = gateway_port if name == "gateway" else port
                            url = f"ws://127.0.0.1:{via}/v1/signal"
                            pids = [server.pid] + (
                                [gateway.pid] if gateway and name == "gateway" else []
                            )
                            specs = []
                            for _ in range(rooms):
                                sid, clinician, client = next(unused)
                                specs.append(
                                    (
                                        json.dumps(
                                            {
                                                "type": "join",
                                                "token": _token(pem, client, "client", sid),
                                            }
                                        ),
                                        json.dumps(
                                            {
                                                "type": "join",
                                                "token": _token(pem, clinician, "clinician", sid),
                                            }
                                        ),
                                        str(client),
                                        str(sid),
                                    )
                                )
                        print(f"  {rooms} rooms, {name} ...", flush=True)
                        try:
                            measured, used = _run_load(url, specs, args, pids)
                        except RuntimeError as error:
                            # The other runs' figures still count; this one is reported failed.
                            failed.append(f"{rooms} rooms, {name}: {error}")
                            print(f"  FAILED: {failed[-1]}", flush=True)
                            continue
                        for phase in ("burst", "steady"):
                            p50, p99, p999 = _quantiles(measured[phase])
                            print(
                                f"    {phase:6s} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
                                f"p99.9 {p999:7.2f} ms  CPU {used[phase]:5.1f}%  "
                                f"({len(measured[phase])} messages)",
                                flush=True,
                            )
                        for phase in ("burst", "steady"):
                            latencies.setdefault((rooms, name), {}).setdefault(phase, []).extend(
                                measured[phase]
                            )
                            cpu.setdefault((rooms, name), {}).setdefault(phase, []).append(
                                used[phase]
                            )
                        time.sleep(2.0)  # let the servers settle before the next run
        finally:
            if gateway is not None:
                gateway.terminate()
                gateway.wait(timeout=30)
            server.terminate()
            server.join()
            bare.terminate()
            bare.join()

    owning = "rooms owned through the Kafka group" if kafka_bootstrap else "no Kafka"
    print(
        f"relay: burst (offer/answer + 10 candidates per peer in the first second), then "
        f"{args.steady_seconds:g} s steady at 2 messages/s per peer; {args.rounds} round(s); "
        f"{args.load_processes} load processes; signaling ws={args.ws}; {owning}"
        + (
            f"; gateway pong deadline {args.gateway_ping_timeout:g} s"
            if "gateway" in args.paths
            else ""
        )
    )
    names = {
        "bare": "bare websockets relay",
        "direct": "signaling, direct",
        "gateway": "signaling, through the gateway",
    }
    figures: list[_table.Figure] = []
    for rooms in args.rooms:
        if (rooms, "bare") not in latencies:
            continue
        base = {
            phase: _quantiles(latencies[(rooms, "bare")][phase]) for phase in ("burst", "steady")
        }
        base_cpu = {
            phase: statistics.median(cpu[(rooms, "bare")][phase]) for phase in ("burst", "steady")
        }
        for name in [n for n in servers if (rooms, n) in latencies]:
            for phase in ("burst", "steady"):
                values = latencies[(rooms, name)][phase]
                p50, p99, p999 = _quantiles(values)
                used = statistics.median(cpu[(rooms, name)][phase])
                print(
                    f"  {rooms:5d} rooms {names[name]:32s} {phase:6s} p50 {p50:7.2f} ms  "
                    f"p99 {p99:7.2f} ms  p99.9 {p999:7.2f} ms  CPU {used:5.1f}%"
                    f"  ({len(values)} messages)"
                )
                if name == "bare":
                    continue
                target = {"direct": "≤ 1.2× bare", "gateway": "≤ 2× bare"}[name]
                process = "signaling" if name == "direct" else "signaling + gateway"
                where = f"{rooms} rooms, {phase}, {name}"
                rows = [
                    (f"relay p50, {where}", p50, "ms", "", base[phase][0]),
                    (f"relay p99, {where}", p99, "ms", target, base[phase][1]),
                    (f"relay p99.9, {where}", p999, "ms", "", base[phase][2]),
                    (f"CPU of {process}, {where}", used, "% of a core", "", base_cpu[phase]),
                ]
                figures += [
                    _table.Figure(
                        bench="signaling_relay",
                        name=label,
                        value=value,
                        unit=unit,
                        samples=len(values),
                        target=goal,
                        baseline=baseline,
                        baseline_name="bare websockets relay",
                        higher_is_better=False,
                    )
                    for label, value, unit, goal, baseline in rows
                ]
    _table.report(figures)
    if failed:
        sys.exit("failed runs:\n" + "\n".join(failed))


if __name__ == "__main__":
    main()
