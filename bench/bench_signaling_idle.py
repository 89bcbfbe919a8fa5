"""Memory per idle, authenticated signaling WebSocket, against a bare websockets server.

Each server runs in its own process; the load (N client sockets) runs in this one. The
signaling sockets are authenticated: each has joined its own session's waiting room with a
real signaling token. The baseline is a bare ``websockets`` server without compression whose
handler just waits. Per-socket memory is the server's RSS growth divided by N, measured in the
same run for every server. Prints figures; passes or fails nothing.

With room ownership through Kafka (the default here), 2,000 sockets, ws=served, on the shared
2-core machine (2026-12-04): 26.1 KiB/socket against 14.7 bare; 25.6 with --no-kafka. About
8-10 KiB of it is pymalloc fragmentation left by the joins' transient objects, about 12 KiB
live objects (docs/benchmarks.md, "with room ownership in place").

``--database`` picks signaling's store: the embedded default (SQLite, a file) and/or
PostgreSQL (a fresh database on the bench's server, started by the devservers launcher unless
``RAPPORT_BENCH_POSTGRES_DSN_BASE`` names one). Every process here raises its open-file soft
limit to the hard limit: 15,000 sockets need more than the usual 1,024.

    uv run python bench/bench_signaling_idle.py [--sockets 15000] [--ws served websockets-sansio]
        [--database sqlite postgres] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import resource
import socket
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import websockets
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _table  # noqa: E402

SUBPROTOCOL = "rapport.signal.v1"
MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "signaling" / "migrations"
# Both servers ping every 20 s (their defaults) and wait this long for the pong: with the
# default 20 s, a client process starved on a loaded machine while it opens 15,000 sockets
# missed pongs and both servers closed sockets in the middle of the figure.
PONG_DEADLINE = 120.0


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def raise_open_files(needed: int = 0) -> None:
    """Open-file soft limit up to the hard one; an error if that is still under ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if needed and hard != resource.RLIM_INFINITY and hard < needed:
        raise SystemExit(f"{needed} sockets need {needed} open files; the hard limit is {hard}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# servers (child processes) -------------------------------------------------------------------


def _serve_bare(port: int) -> None:
    import uvloop

    raise_open_files()

    async def handler(ws: Any) -> None:
        async for _ in ws:
            pass

    async def main() -> None:
        async with websockets.serve(
            handler,
            "127.0.0.1",
            port,
            compression=None,
            subprotocols=[SUBPROTOCOL],
            ping_timeout=PONG_DEADLINE,
        ):
            await asyncio.Future()

    uvloop.run(main())


def _serve_signaling(
    port: int,
    database_url: str,
    public_jwk: dict[str, Any],
    ws: str,
    kafka_bootstrap: str | None = None,
) -> None:
    import uvicorn

    from services.signaling.app import create_app, freeze_startup_objects, server_config
    from services.signaling.settings import SignalingSettings
    from shared.tokens import StaticKeySource

    raise_open_files()
    settings = SignalingSettings(
        environment="test",
        database_url=database_url,
        # With a broker, rooms are owned through the consumer group as in production
        # (docs/signaling.md); without, this process owns every room.
        kafka_bootstrap=kafka_bootstrap or "127.0.0.1:1",
        room_ownership="kafka" if kafka_bootstrap else "local",
        host="127.0.0.1",
        port=port,
        log_level="WARNING",
        idle_timeout_seconds=3600,
        ping_timeout_seconds=PONG_DEADLINE,
        # A client opening 15,000 sockets on a loaded machine can send its join more than the
        # default 10 s after signaling accepted the socket (closed with 4001 mid-figure).
        join_timeout_seconds=PONG_DEADLINE,
        rate_limit_burst=1000,
        # No Kafka here: the outbox relay retries every few seconds, and loading a batch of 500
        # held rows each time stalls the loop for tens of ms, which a real deployment (Kafka
        # up, outbox drained) never sees. One row per retry keeps that out of the figures.
        outbox_batch_size=1,
        # Its clients sign no consent; on a broker other systems share (the test run's), a
        # consent document one of them published would otherwise hold every join here.
        consent_required=False,
    )
    app = create_app(settings, key_source=StaticKeySource({"bench": jwt.PyJWK(public_jwk)}))
    config = server_config(app, settings)
    if ws != "served":  # "served": exactly as server_config() serves signaling
        config.ws = ws  # type: ignore[assignment]
    config.access_log = False
    config.load()
    server = uvicorn.Server(config)
    if ws == "served":  # as python -m services.signaling serve does
        freeze_startup_objects()
    server.run()


def wait_owning(port: int, server: Any) -> None:
    """Until the server holds its rooms (its /readyz: the group assigned it every partition)."""
    import httpx

    while True:
        if not server.is_alive():
            raise RuntimeError("signaling exited")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


def kafka_for_ownership(enabled: bool) -> Any:
    """Bootstrap servers of a broker for room ownership (the bench table's shared one, or
    a single-node one of our own), or None (``--no-kafka``)."""
    if not enabled:
        return contextlib.nullcontext(None)
    return _table.kafka()


# load --------------------------------------------------------------------------------------


async def _connect_retrying(url: str, **options: Any) -> Any:
    """``websockets.connect``, tried three times: a loaded machine fails a handshake now and
    then, which says nothing about memory per socket."""
    for attempt in range(3):
        try:
            return await websockets.connect(url, **options)
        except (OSError, TimeoutError, websockets.InvalidHandshake, websockets.InvalidMessage):
            if attempt == 2:
                raise
            await asyncio.sleep(1.0)
    raise AssertionError("unreachable")


async def _open(url: str, count: int, first: list[str] | None) -> list[Any]:
    """Open ``count`` sockets, 200 handshakes at a time, each sending its ``first`` message
    as soon as it is open, however many are still waiting for their answer: a join storm,
    every join a SQLite write queuing for the lock (shared.db)."""
    sockets: list[Any] = []
    semaphore = asyncio.Semaphore(200)

    async def one(i: int) -> None:
        async with semaphore:
            ws = await _connect_retrying(
                url,
                subprotocols=[SUBPROTOCOL],
                compression=None,
                open_timeout=60,  # type: ignore[list-item]
                # The servers' keepalive pings are what is held; the client's own would double
                # the pings, and a starved client (15,000 sockets, a loaded machine) missing its
                # pongs' deadline closes sockets with 1011 in the middle of the figure.
                ping_interval=None,
            )
        if first is not None:
            await ws.send(first[i])
            # Bounded only against a hang (a server that stopped serving): fail, do not wait.
            reply = json.loads(await asyncio.wait_for(ws.recv(), 600))
            assert reply["type"] == "waiting", reply
        sockets.append(ws)

    await asyncio.gather(*(one(i) for i in range(count)))
    return sockets


async def _measure(pid: int, url: str, count: int, joins: list[str] | None, warm_up: int) -> float:
    """KiB of server RSS per socket, after a warm-up that the baseline RSS includes."""
    warm = await _open(url, warm_up, joins[:warm_up] if joins else None)
    await asyncio.sleep(1.0)
    before = _rss_kib(pid)
    sockets = await _open(url, count, joins[warm_up:] if joins else None)
    await asyncio.sleep(2.0)
    after = _rss_kib(pid)
    for ws in warm + sockets:
        ws.transport.abort()
    return (after - before) / count


def _wait_listening(port: int, process: multiprocessing.Process) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.is_alive(), "server died"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError("server did not start")


async def _schedule(
    database_url: str, sessions: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID]]
) -> None:
    from services.signaling.models import SessionAccess
    from shared.db import Database

    database = Database(database_url)
    now = datetime.now(UTC)
    async with database.unit_of_work() as session:
        for session_id, clinician_id, client_id in sessions:
            session.add(
                SessionAccess(
                    session_id=session_id,
                    appointment_id=uuid.uuid4(),
                    clinician_id=clinician_id,
                    client_id=client_id,
                    starts_at=now,
                    ends_at=now + timedelta(hours=2),
                )
            )
    await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sockets", type=int, default=15_000)
    parser.add_argument(
        "--ws",
        nargs="+",
        default=["served"],
        help="uvicorn ws implementations; 'served' is signaling's own (server_config)",
    )
    parser.add_argument(
        "--database",
        nargs="+",
        choices=["sqlite", "postgres"],
        default=["sqlite", "postgres"],
        help="signaling's store: the embedded default (SQLite) and/or PostgreSQL",
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does it still run")
    parser.add_argument(
        "--no-kafka", action="store_true", help="no broker: one process owns every room"
    )
    args = parser.parse_args()
    if args.quick:
        args.sockets, args.ws, args.database = 20, ["served"], ["sqlite", "postgres"]
    count: int = args.sockets
    # This process holds every client socket, each server as many, plus a margin.
    raise_open_files(count + min(200, count) + 200)
    with contextlib.ExitStack() as servers:
        kafka_bootstrap = servers.enter_context(kafka_for_ownership(not args.no_kafka))
        databases: dict[str, str | None] = {"sqlite": None}
        if "postgres" in args.database:
            [databases["postgres"]] = servers.enter_context(_table.postgres("bench_signaling"))
        _run(args, count, kafka_bootstrap, databases)


def _run(
    args: argparse.Namespace,
    count: int,
    kafka_bootstrap: str | None,
    databases: dict[str, str | None],
) -> None:
    warm_up = min(200, count)

    from shared.migrations import upgrade

    private_key = Ed25519PrivateKey.generate()
    public_jwk = jwt.algorithms.OKPAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    public_jwk.update(kid="bench", alg="EdDSA", use="sig")
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    def token(user: uuid.UUID, session_id: uuid.UUID) -> str:
        now = int(time.time())
        claims = {
            "iss": "rapport-identity", "aud": "rapport-signaling", "sub": str(user),
            "iat": now, "nbf": now, "exp": now + 3600, "jti": str(uuid.uuid4()),
            "role": "client", "scope": "", "sid": str(session_id),
        }  # fmt: skip
        return jwt.encode(claims, pem, algorithm="EdDSA", headers={"kid": "bench"})

    results: dict[str, float] = {}
    ctx = multiprocessing.get_context("spawn")

    port = _free_port()
    bare = ctx.Process(target=_serve_bare, args=(port,), daemon=True)
    bare.start()
    _wait_listening(port, bare)
    assert bare.pid is not None
    import uvloop

    results["bare websockets"] = uvloop.run(
        _measure(bare.pid, f"ws://127.0.0.1:{port}/", count, None, warm_up)
    )
    bare.terminate()
    bare.join()

    for database, ws_impl in [(d, w) for d in args.database for w in args.ws]:
        with tempfile.TemporaryDirectory() as tmp:
            # PostgreSQL: one database for every run here, each run with sessions of its own.
            database_url = (
                databases[database] or f"sqlite+aiosqlite:///{Path(tmp) / 'signaling.db'}"
            )
            upgrade(MIGRATIONS, database_url)
            sessions = [(uuid.uuid4(), uuid.uuid4(), uuid.uuid4()) for _ in range(count + warm_up)]
            asyncio.run(_schedule(database_url, sessions))
            joins = [
                json.dumps({"type": "join", "token": token(client, sid), "display_name": "Sam"})
                for sid, _, client in sessions
            ]
            port = _free_port()
            server = ctx.Process(
                target=_serve_signaling,
                args=(port, database_url, public_jwk, ws_impl, kafka_bootstrap),
                daemon=True,
            )
            server.start()
            _wait_listening(port, server)
            wait_owning(port, server)
            assert server.pid is not None
            store = "SQLite" if database == "sqlite" else "PostgreSQL"
            results[f"signaling (ws={ws_impl}, {store})"] = uvloop.run(
                _measure(server.pid, f"ws://127.0.0.1:{port}/v1/signal", count, joins, warm_up)
            )
            server.terminate()
            server.join()

    baseline = results["bare websockets"]
    owning = "rooms owned through the Kafka group" if kafka_bootstrap else "no Kafka"
    print(f"idle sockets: {count} per server, {os.cpu_count()} cpus, {owning}")
    for name, kib in results.items():
        print(f"  {name:32s} {kib:6.1f} KiB/socket  ({kib / baseline:4.2f}x bare)")
    print("  target: signaling <= 20 KiB/socket (design: bare ~14.5 KiB here)")
    _table.report(
        [
            _table.Figure(
                bench="signaling_idle",
                name=f"idle authenticated socket, {name}, {count} sockets",
                value=kib,
                unit="KiB/socket",
                samples=count,
                target="≤ 1.0× bare at 15,000",
                baseline=baseline,
                baseline_name="bare websockets",
                higher_is_better=False,
            )
            for name, kib in results.items()
            if name != "bare websockets"
        ]
    )


if __name__ == "__main__":
    main()
