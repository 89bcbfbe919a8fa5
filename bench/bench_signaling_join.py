"""How long a join takes: connect, authenticate, wait, be admitted, offer and answer relayed.

One signaling process (its own, embedded SQLite) and, in the same run, the bare websockets
relay of bench_signaling_relay as the baseline, whose "join" is two sockets naming a room
and an offer and answer crossing it. Each join is timed from the client's first connect until
the clinician has the client's answer: both sockets open and authenticated, the client in
the waiting room, admitted, the clinician's offer relayed and the answer relayed back. Timed
one at a time and in storms of ``--burst`` at once. Then real aiortc peers (as the end-to-end
tests use them, trickle ICE through signaling) join and are timed until ICE is connected on
both sides. Prints p50/p95/p99; passes or fails nothing.

    uv run python bench/bench_signaling_join.py [--joins 50] [--burst 50] [--rounds 3]
        [--ice 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench import _table
from bench.bench_signaling_idle import (
    MIGRATIONS,
    _free_port,
    _schedule,
    _serve_signaling,
    _wait_listening,
)
from bench.bench_signaling_relay import (
    _pair_bare,
    _pair_signaling,
    _serve_bare_relay,
    _token,
    _until,
)
from tests.e2e.peers import Participant

Session = tuple[uuid.UUID, uuid.UUID, uuid.UUID]
OFFER = json.dumps({"type": "offer", "sdp": "v=0 " + "a=x" * 300})
ANSWER = json.dumps({"type": "answer", "sdp": "v=0 " + "a=y" * 300})


async def _offer_answer(offerer: Any, answerer: Any) -> None:
    await offerer.send(OFFER)
    await _until(answerer, "offer")
    await answerer.send(ANSWER)
    await _until(offerer, "answer")


async def join_bare(url: str) -> tuple[float, list[Any]]:
    started = time.perf_counter()
    a, b = await _pair_bare(url)
    await _offer_answer(a, b)
    return time.perf_counter() - started, [a, b]


async def join_signaling(url: str, pem: bytes, session: Session) -> tuple[float, list[Any]]:
    sid, clinician, client = session
    joins = (
        json.dumps({"type": "join", "token": _token(pem, client, "client", sid)}),
        json.dumps({"type": "join", "token": _token(pem, clinician, "clinician", sid)}),
        str(client),
    )
    started = time.perf_counter()
    clinician_ws, client_ws = await _pair_signaling(url, joins)
    await _offer_answer(clinician_ws, client_ws)
    return time.perf_counter() - started, [clinician_ws, client_ws]


async def _timed(joins: list[Any], width: int) -> list[float]:
    """Seconds of each join, ``width`` started at once; sockets closed after each group."""
    seconds: list[float] = []
    for start in range(0, len(joins), width):
        done = await asyncio.gather(*(join() for join in joins[start : start + width]))
        seconds += [elapsed for elapsed, _ in done]
        for _, sockets in done:
            for ws in sockets:
                await ws.close()
    return seconds


async def ice_connected(url: str, pem: bytes, session: Session) -> float:
    """Seconds from the client's connect until ICE is connected on both aiortc peers."""
    sid, clinician_id, client_id = session
    client = Participant("client", url, _token(pem, client_id, "client", sid))
    clinician = Participant("clinician", url, _token(pem, clinician_id, "clinician", sid))
    connected = {p.name: asyncio.Event() for p in (client, clinician)}
    for peer in (client, clinician):

        def on_change(peer: Participant = peer) -> None:
            if peer.pc.iceConnectionState in ("connected", "completed"):
                connected[peer.name].set()

        peer.pc.on("iceconnectionstatechange", on_change)
    started = time.perf_counter()
    try:
        await client.connect("Sam")
        await clinician.connect("Dr Lee")
        await clinician.send({"type": "admit", "user_id": str(client_id)})
        await client.expect("joined")
        await clinician.offer()
        async with asyncio.timeout(60):  # only against a hang
            await asyncio.gather(*(event.wait() for event in connected.values()))
        return time.perf_counter() - started
    finally:
        await client.close()
        await clinician.close()


def _p95(seconds: list[float]) -> float:
    if len(seconds) == 1:
        return seconds[0] * 1000
    return statistics.quantiles(seconds, n=100, method="inclusive")[94] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--joins", type=int, default=50, help="one at a time")
    parser.add_argument("--burst", type=int, default=50, help="joins started at once")
    parser.add_argument("--rounds", type=int, default=3, help="storms of --burst")
    parser.add_argument("--ice", type=int, default=10, help="aiortc pairs, 5 at a time")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does it still run")
    args = parser.parse_args()
    if args.quick:
        args.joins, args.burst, args.rounds, args.ice = 3, 3, 1, 1

    from shared.migrations import upgrade

    ctx = multiprocessing.get_context("spawn")
    private_key = Ed25519PrivateKey.generate()
    public_jwk = jwt.algorithms.OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    public_jwk.update(kid="bench", alg="EdDSA", use="sig")
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    storm = args.burst * args.rounds
    sessions = [
        (uuid.uuid4(), uuid.uuid4(), uuid.uuid4()) for _ in range(args.joins + storm + args.ice)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'signaling.db'}"
        upgrade(MIGRATIONS, database_url)
        asyncio.run(_schedule(database_url, sessions))
        bare_port, port = _free_port(), _free_port()
        bare = ctx.Process(target=_serve_bare_relay, args=(bare_port,), daemon=True)
        server = ctx.Process(
            target=_serve_signaling, args=(port, database_url, public_jwk, "served"), daemon=True
        )
        bare.start()
        server.start()
        _wait_listening(bare_port, bare)
        _wait_listening(port, server)
        bare_url, url = f"ws://127.0.0.1:{bare_port}/", f"ws://127.0.0.1:{port}/v1/signal"

        def ours(chunk: list[Session]) -> list[Any]:
            return [lambda s=s: join_signaling(url, pem, s) for s in chunk]

        async def run() -> dict[str, list[float]]:
            results: dict[str, list[float]] = {}
            results["bare, one at a time"] = await _timed(
                [lambda: join_bare(bare_url)] * args.joins, 1
            )
            results["one at a time"] = await _timed(ours(sessions[: args.joins]), 1)
            results["bare, at once"] = await _timed(
                [lambda: join_bare(bare_url)] * storm, args.burst
            )
            results["at once"] = await _timed(
                ours(sessions[args.joins : args.joins + storm]), args.burst
            )
            ice: list[float] = []
            pairs = sessions[args.joins + storm :]
            for start in range(0, len(pairs), 5):
                ice += await asyncio.gather(
                    *(ice_connected(url, pem, s) for s in pairs[start : start + 5])
                )
            results["ice"] = ice
            return results

        try:
            results = asyncio.run(run())
        finally:
            for process in (server, bare):
                process.terminate()
                process.join()

    print(f"joins: {args.joins} one at a time, {args.rounds} storms of {args.burst} at once")
    for name, seconds in results.items():
        p50, p99 = _table.percentiles(seconds)
        print(f"  {name:<22} p50 {p50:7.1f} ms  p95 {_p95(seconds):7.1f} ms  p99 {p99:7.1f} ms")
    print("  target: p95 <= 100 ms one at a time; <= 500 ms with 50 at once")
    # (results key, how it is named in the table, target); the baseline is "bare, " + key.
    rows = [
        ("one at a time", "one at a time", "≤ 100 ms"),
        ("at once", f"{args.burst} at once", "≤ 500 ms"),
    ]
    figures = [
        _table.Figure(
            bench="signaling_join",
            name=f"join to answer relayed, p95, {label}",
            value=_p95(results[key]),
            unit="ms",
            samples=len(results[key]),
            target=target,
            baseline=_p95(results[f"bare, {key}"]),
            baseline_name="bare relay pair + offer/answer",
            higher_is_better=False,
        )
        for key, label, target in rows
    ]
    figures.append(
        _table.Figure(
            bench="signaling_join",
            name="join to ICE connected (aiortc, 5 at once), p95",
            value=_p95(results["ice"]),
            unit="ms",
            samples=len(results["ice"]),
            higher_is_better=False,
        )
    )
    _table.report(figures)


if __name__ == "__main__":
    main()
