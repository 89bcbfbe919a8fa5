"""Requests per second through the gateway, next to the same service reached directly.

A one-row-sized authenticated JSON read is served by a plain FastAPI app (its own process);
the same load then goes through ``python -m gateway`` processes in front of it: with the
per-principal rate limit off, with it on (default settings), and with a CORS allow-list and a
request from an allowed origin. Every request carries a bearer token the gateway verifies
(its verifier cache makes repeats cheap, as in production). The load generator is a small
keep-alive HTTP/1.1 client on raw asyncio streams, in this process; all figures come from the
same run on the same machine, so compare them with each other, not across machines.

    uv run python bench/bench_gateway.py [--seconds 5] [--connections 32] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from bench import _table

ROOT = Path(__file__).resolve().parents[1]
USER = "3f1c0e7e-1111-4222-8333-944455556666"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_app(jwks: dict[str, Any]) -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/.well-known/jwks.json")
    async def keys() -> dict[str, Any]:
        return jwks

    @app.get("/v1/goals/{goal_id}")
    async def goal(goal_id: str) -> dict[str, Any]:
        return {"id": goal_id, "statement": "sleep before midnight", "status": "active"}

    return app


def serve_service(port: int, jwks_file: str) -> None:
    jwks = json.loads(Path(jwks_file).read_text())
    uvicorn.run(
        service_app(jwks),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


def token() -> tuple[str, dict[str, Any]]:
    private = Ed25519PrivateKey.generate()
    public = jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)
    public.update(kid="bench", alg="EdDSA", use="sig")
    now = int(time.time())
    claims = {
        "iss": "rapport-identity",
        "aud": "rapport",
        "sub": USER,
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": str(uuid.uuid4()),
        "role": "clinician",
        "scope": "",
    }
    return jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": "bench"}), {
        "keys": [public]
    }


def start(command: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(command, env=env, cwd=ROOT)
    deadline = time.monotonic() + 90  # a loaded machine can take long to import a service
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{command} did not start")


async def _connection(
    port: int, request: bytes, until: float, counts: list[int], latencies: list[float] | None = None
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        while (sent := time.perf_counter()) < until:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"port {port}: {head.decode('latin-1')}")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            done += 1
            if latencies is not None:
                latencies.append(time.perf_counter() - sent)
    finally:
        counts.append(done)
        writer.close()


async def requests_per_second(
    port: int,
    seconds: float,
    connections: int,
    headers: dict[str, str],
    path: str | None = None,
    latencies: list[float] | None = None,
) -> float:
    """Requests per second answered 200 on keep-alive connections; with ``latencies``, each
    request's seconds (sent to answer read) are appended to it."""
    path = path or f"/v1/goals/{uuid.uuid4()}"
    lines = [f"GET {path} HTTP/1.1", f"host: 127.0.0.1:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    request = ("\r\n".join(lines) + "\r\n\r\n").encode()
    # A short warm-up, then the measured run.
    await asyncio.gather(
        *(_connection(port, request, time.perf_counter() + 0.5, []) for _ in range(connections))
    )
    counts: list[int] = []
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _connection(port, request, started + seconds, counts, latencies)
            for _ in range(connections)
        )
    )
    return sum(counts) / (time.perf_counter() - started)


def interleaved(names: list[str], rounds: int) -> Iterator[str]:
    """Every name once a round, the order rotated each round, so load from elsewhere on the
    machine spreads evenly over them."""
    for round_number in range(rounds):
        shift = round_number % len(names)
        yield from names[shift:] + names[:shift]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve-service", nargs=2, metavar=("PORT", "JWKS_FILE"))
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does it still run")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.connections, args.rounds = 0.3, 2, 1
    if args.serve_service:
        serve_service(int(args.serve_service[0]), args.serve_service[1])
        return

    bearer, jwks = token()
    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as scratch:
        jwks_file = Path(scratch) / "jwks.json"
        jwks_file.write_text(json.dumps(jwks))
        service_port = free_port()
        service_url = f"http://127.0.0.1:{service_port}"
        try:
            processes.append(
                start(
                    [
                        sys.executable,
                        __file__,
                        "--serve-service",
                        str(service_port),
                        str(jwks_file),
                    ],
                    dict(os.environ),
                    service_port,
                )
            )
            base = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
            base.update(
                RAPPORT_ENVIRONMENT="test",
                RAPPORT_LOG_LEVEL="WARNING",
                RAPPORT_JWKS_URL=f"{service_url}/.well-known/jwks.json",
                RAPPORT_GATEWAY_REVOCATIONS_ENABLED="false",
                RAPPORT_GATEWAY_IDENTITY_URL=service_url,
                RAPPORT_GATEWAY_RECORDS_URL=service_url,
                RAPPORT_GATEWAY_WEBHOOKS_URL=service_url,
                RAPPORT_GATEWAY_SIGNALING_URLS=service_url,
                # Far above what this load reaches: the limiter's cost is measured, not its 429s.
                RAPPORT_GATEWAY_PRINCIPAL_RATE_PER_MINUTE="100000000",
                RAPPORT_GATEWAY_PRINCIPAL_BURST="100000000",
            )
            variants = {
                "gateway, no principal limit": {"RAPPORT_GATEWAY_PRINCIPAL_RATE_PER_MINUTE": "0"},
                "gateway, principal limit": {},
                "gateway, limit + CORS origin": {
                    "RAPPORT_GATEWAY_CORS_ALLOW_ORIGINS": "https://ehr.example.org"
                },
            }
            if args.quick:  # one gateway process is enough to prove the path still works
                variants = {"gateway, principal limit": {}}
            ports: dict[str, int] = {}
            for name, extra in variants.items():
                port = ports[name] = free_port()
                env = {**base, **extra, "RAPPORT_GATEWAY_PORT": str(port)}
                processes.append(
                    start([sys.executable, "-W", "ignore", "-m", "gateway"], env, port)
                )

            auth = {"authorization": f"Bearer {bearer}"}
            targets: dict[str, tuple[int, dict[str, str]]] = {
                "service directly (baseline)": (service_port, auth)
            }
            for name, port in ports.items():
                origin = {"origin": "https://ehr.example.org"} if "CORS" in name else {}
                targets[name] = (port, {**auth, **origin})
            print(
                f"cores: {os.cpu_count()}; {args.connections} keep-alive connections; "
                f"{args.rounds} interleaved rounds of {args.seconds:.0f} s, median shown"
            )
            figures: dict[str, list[float]] = {name: [] for name in targets}
            for name in interleaved(list(targets), args.rounds):
                port, headers = targets[name]
                figures[name].append(
                    asyncio.run(requests_per_second(port, args.seconds, args.connections, headers))
                )
            direct = statistics.median(figures["service directly (baseline)"])
            for name, rates in figures.items():
                rate = statistics.median(rates)
                print(f"  {name:<32} {rate:8.0f} req/s  ({rate / direct:.2f}x the baseline)")
            _table.report(
                [
                    _table.Figure(
                        bench="gateway",
                        name=f"HTTP read, {name}, {args.connections} connections",
                        value=statistics.median(rates),
                        unit="req/s",
                        samples=round(statistics.median(rates) * args.seconds),
                        target="≥ 0.8× direct",
                        baseline=direct,
                        baseline_name="service direct",
                    )
                    for name, rates in figures.items()
                    if name != "service directly (baseline)"
                ]
            )
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)


if __name__ == "__main__":
    main()
