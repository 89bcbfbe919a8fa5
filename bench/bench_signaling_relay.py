"""Relay latency at many concurrent rooms: signaling against a bare websockets relay.

Both servers run in their own process and get the same load from this one: R rooms, each a
pair of sockets; one side sends M small offers at a fixed pace, the other receives them, and
the latency of each (send to receive) is recorded. In signaling the pair is a clinician and
an admitted client of one session (authenticated, through the waiting room); in the bare
relay, a pair is two sockets that named the same room in their first message, and each
message is forwarded to the other. Prints p50/p95/p99 for both; passes or fails nothing.

With room ownership through Kafka (the default here), --rooms 200 --rounds 1, on the shared
2-core machine (2026-12-04): p99 11.23 ms against 4.61 ms bare, 2.43x (docs/benchmarks.md).

    uv run python bench/bench_signaling_relay.py [--rooms 500] [--messages 20] [--interval 0.25]
        [--rounds 3] [--ws served] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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
    return await websockets.connect(
        url,
        subprotocols=[SUBPROTOCOL],  # type: ignore[list-item]
        compression=None,
        open_timeout=60,
        max_size=2**20,
    )


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


async def _pair_signaling(url: str, joins: tuple[str, str, str]) -> tuple[Any, Any]:
    client_join, clinician_join, client_id = joins
    client, clinician = await _connect(url), await _connect(url)
    await client.send(client_join)
    await _until(client, "waiting")
    await clinician.send(clinician_join)
    await _until(clinician, "joined")
    await clinician.send(json.dumps({"type": "admit", "user_id": client_id}))
    await _until(client, "joined")
    await _until(clinician, "waiting-room")
    return clinician, client


async def _load(pairs: list[tuple[Any, Any]], messages: int, interval: float) -> list[float]:
    latencies: list[float] = []
    padding = "a=x" * 100  # about the size of an ICE candidate message

    async def room(sender: Any, receiver: Any) -> None:
        async def receive() -> None:
            for _ in range(messages):
                message = json.loads(await receiver.recv())
                latencies.append(time.perf_counter() - float(message["sdp"].split(" ", 1)[0]))

        receiving = asyncio.create_task(receive())
        await asyncio.sleep(interval * (hash(id(sender)) % 1000) / 1000)  # spread the rooms
        for _ in range(messages):
            await sender.send(
                json.dumps({"type": "offer", "sdp": f"{time.perf_counter()} {padding}"})
            )
            await asyncio.sleep(interval)
        await receiving

    await asyncio.gather(*(room(a, b) for a, b in pairs))
    return latencies


def _figures(latencies: list[float]) -> tuple[float, float, float]:
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return q[49] * 1000, q[94] * 1000, q[98] * 1000


def _token(pem: bytes, user: uuid.UUID, role: str, session_id: uuid.UUID) -> str:
    now = int(time.time())
    claims = {
        "iss": "rapport-identity", "aud": "rapport-signaling", "sub": str(user), "iat": now,
        "nbf": now, "exp": now + 3600, "jti": str(uuid.uuid4()), "role": role, "scope": "",
        "sid": str(session_id),
    }  # fmt: skip
    return jwt.encode(claims, pem, algorithm="EdDSA", headers={"kid": "bench"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="alternate the two servers this many times (a shared machine is noisy)",
    )
    parser.add_argument(
        "--ws", default="served", help="uvicorn ws implementation; 'served': server_config's"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does it still run")
    parser.add_argument(
        "--no-kafka", action="store_true", help="no broker: one process owns every room"
    )
    args = parser.parse_args()
    if args.quick:
        args.rooms, args.messages, args.interval, args.rounds = 4, 3, 0.05, 1
    with kafka_for_ownership(not args.no_kafka) as kafka_bootstrap:
        _run(args, kafka_bootstrap)


def _run(args: argparse.Namespace, kafka_bootstrap: str | None) -> None:
    from shared.migrations import upgrade

    ctx = multiprocessing.get_context("spawn")
    latencies: dict[str, list[list[float]]] = {"bare websockets relay": [], "signaling": []}

    private_key = Ed25519PrivateKey.generate()
    public_jwk = jwt.algorithms.OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    public_jwk.update(kid="bench", alg="EdDSA", use="sig")
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with tempfile.TemporaryDirectory() as tmp:
        bare_port = _free_port()
        bare = ctx.Process(target=_serve_bare_relay, args=(bare_port,), daemon=True)
        bare.start()
        _wait_listening(bare_port, bare)

        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'signaling.db'}"
        upgrade(MIGRATIONS, database_url)
        # Fresh sessions for every round: a room whose sockets closed is not reused.
        sessions = [
            (uuid.uuid4(), uuid.uuid4(), uuid.uuid4()) for _ in range(args.rooms * args.rounds)
        ]
        asyncio.run(_schedule(database_url, sessions))
        port = _free_port()
        server = ctx.Process(
            target=_serve_signaling,
            args=(port, database_url, public_jwk, args.ws, kafka_bootstrap),
            daemon=True,
        )
        server.start()
        _wait_listening(port, server)
        wait_owning(port, server)

        async def run_bare() -> list[float]:
            url = f"ws://127.0.0.1:{bare_port}/"
            pairs = await asyncio.gather(*(_pair_bare(url) for _ in range(args.rooms)))
            measured = await _load(list(pairs), args.messages, args.interval)
            for a, b in pairs:
                await a.close()
                await b.close()
            return measured

        async def run_signaling(
            round_sessions: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]],
        ) -> list[float]:
            url = f"ws://127.0.0.1:{port}/v1/signal"
            semaphore = asyncio.Semaphore(50)

            async def pair(sid: uuid.UUID, clinician: uuid.UUID, client: uuid.UUID) -> Any:
                joins = (
                    json.dumps({"type": "join", "token": _token(pem, client, "client", sid)}),
                    json.dumps({"type": "join", "token": _token(pem, clinician, "clinician", sid)}),
                    str(client),
                )
                async with semaphore:
                    return await _pair_signaling(url, joins)

            pairs = await asyncio.gather(*(pair(*s) for s in round_sessions))
            measured = await _load(list(pairs), args.messages, args.interval)
            # Leave rather than drop: dropped members would leave when their grace period
            # ends, in the middle of the next round.
            for a, b in pairs:
                for ws in (a, b):
                    await ws.send('{"type": "leave"}')
                    await ws.wait_closed()
            return measured

        for round_ in range(args.rounds):
            latencies["bare websockets relay"].append(asyncio.run(run_bare()))
            chunk = sessions[round_ * args.rooms : (round_ + 1) * args.rooms]
            latencies["signaling"].append(asyncio.run(run_signaling(chunk)))
            time.sleep(2.0)  # let both servers settle before the next round
        server.terminate()
        server.join()
        bare.terminate()
        bare.join()

    rate = args.rooms / args.interval
    print(
        f"relay: {args.rooms} rooms, {args.messages} messages each, {rate:.0f} messages/s, "
        f"{args.rounds} alternating rounds (signaling ws={args.ws}; "
        f"{'rooms owned through the Kafka group' if kafka_bootstrap else 'no Kafka'})"
    )
    pooled = {name: _figures([x for r in rounds for x in r]) for name, rounds in latencies.items()}
    base_p99 = pooled["bare websockets relay"][2]
    for name, (p50, p95, p99) in pooled.items():
        print(
            f"  {name:24s} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  p99 {p99:6.2f} ms"
            f"  ({p99 / base_p99:4.2f}x bare p99)"
        )
    ratios = [
        _figures(s)[2] / _figures(b)[2]
        for b, s in zip(latencies["bare websockets relay"], latencies["signaling"], strict=True)
    ]
    print(
        "  p99 ratio per round: "
        + ", ".join(f"{r:.2f}x" for r in ratios)
        + f"  (median {statistics.median(ratios):.2f}x)"
    )
    print("  target: signaling p99 <= 1.5x the bare relay's")
    signaling, bare_figures = pooled["signaling"], pooled["bare websockets relay"]
    _table.report(
        [
            _table.Figure(
                bench="signaling_relay",
                name=f"relay {label}, {args.rooms} rooms, direct",
                value=signaling[index],
                unit="ms",
                samples=sum(len(r) for r in latencies["signaling"]),
                target=target,
                baseline=bare_figures[index],
                baseline_name="bare websockets relay",
                higher_is_better=False,
            )
            for label, index, target in (("p50", 0, ""), ("p99", 2, "≤ 1.2× bare"))
        ]
    )


if __name__ == "__main__":
    main()
