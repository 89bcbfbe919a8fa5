"""Records' HTTP reads against a plain FastAPI endpoint returning constant JSON.

Every server is its own process: bench_gateway's plain FastAPI app (constant JSON for
``GET /v1/goals/{id}``, and the JWKS the tokens are signed for), ``python -m services.records
serve`` on the embedded SQLite default, seeded beforehand as in bench_records_audit, and a
``python -m gateway`` in front of records. Two authenticated reads as the clinician: a
non-clinical one (``GET /v1/availability``, their weekly hours) and a clinical one
(``GET /v1/notes?client_id=``, five notes, each read appending an audit entry), straight to
records and through the gateway; the baseline is the constant endpoint, measured in the
same run with the same load (bench_gateway's keep-alive client, rounds alternating).
Prints requests per second, p50 and p99; passes or fails nothing.

    uv run python bench/bench_records_api.py [--seconds 5] [--connections 16] [--rounds 3]
        [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import _table
from bench.bench_gateway import free_port, interleaved, requests_per_second, start
from bench.bench_records_audit import running_records

ROOT = Path(__file__).resolve().parents[1]


async def seed(directory: Path) -> tuple[dict[str, str], str, dict[str, object]]:
    """A clinician with weekly hours and a client with notes: (paths, authorization header, JWKS)."""
    async with running_records(directory) as page:
        urls, auth = await page.reads()
        hours = [{"weekday": day, "start": "09:00", "end": "17:00"} for day in range(1, 6)]
        response = await page.http.put(
            "/v1/availability",
            json={"time_zone": "Europe/Berlin", "weekly_hours": hours},
            headers=auth,
        )
        assert response.status_code == 200, response.text
        paths = {"availability": "/v1/availability", "notes (clinical, audited)": urls[0]}
        return paths, auth["Authorization"], page.issuer.jwks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does it still run")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.connections, args.rounds = 0.3, 2, 1

    processes: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        paths, bearer, jwks = asyncio.run(seed(directory))
        jwks_file = directory / "jwks.json"
        jwks_file.write_text(json.dumps(jwks))
        constant_port, records_port, gateway_port = free_port(), free_port(), free_port()
        constant_url = f"http://127.0.0.1:{constant_port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
        base.update(
            RAPPORT_ENVIRONMENT="test",
            RAPPORT_LOG_LEVEL="WARNING",
            RAPPORT_JWKS_URL=f"{constant_url}/.well-known/jwks.json",
            RAPPORT_KAFKA_BOOTSTRAP="127.0.0.1:1",
        )
        records_url = f"http://127.0.0.1:{records_port}"
        try:
            gateway_bench = str(ROOT / "bench" / "bench_gateway.py")
            command = [sys.executable, gateway_bench, "--serve-service"]
            processes.append(
                start([*command, str(constant_port), str(jwks_file)], base, constant_port)
            )
            records_env = {
                **base,
                "RAPPORT_RECORDS_PORT": str(records_port),
                "RAPPORT_RECORDS_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'records.db'}",
                "RAPPORT_RECORDS_ACCESS_LOG": "false",
            }
            processes.append(
                start(
                    [sys.executable, "-W", "ignore", "-m", "services.records", "serve"],
                    records_env,
                    records_port,
                )
            )
            gateway_env = {
                **base,
                "RAPPORT_GATEWAY_PORT": str(gateway_port),
                "RAPPORT_GATEWAY_REVOCATIONS_ENABLED": "false",
                "RAPPORT_GATEWAY_IDENTITY_URL": constant_url,
                "RAPPORT_GATEWAY_RECORDS_URL": records_url,
                "RAPPORT_GATEWAY_WEBHOOKS_URL": constant_url,
                "RAPPORT_GATEWAY_SIGNALING_URLS": constant_url,
                "RAPPORT_GATEWAY_PRINCIPAL_RATE_PER_MINUTE": "0",
            }
            processes.append(
                start([sys.executable, "-W", "ignore", "-m", "gateway"], gateway_env, gateway_port)
            )
            auth = {"authorization": bearer}
            targets: dict[str, tuple[int, str | None]] = {
                "constant JSON (baseline)": (constant_port, None)
            }
            for name, path in paths.items():
                targets[f"{name}, direct"] = (records_port, path)
                targets[f"{name}, via gateway"] = (gateway_port, path)
            rates: dict[str, list[float]] = {name: [] for name in targets}
            latencies: dict[str, list[float]] = {name: [] for name in targets}
            for name in interleaved(list(targets), args.rounds):
                port, path = targets[name]
                rates[name].append(
                    asyncio.run(
                        requests_per_second(
                            port, args.seconds, args.connections, auth, path, latencies[name]
                        )
                    )
                )
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)

    print(
        f"cores: {os.cpu_count()}; {args.connections} keep-alive connections; "
        f"{args.rounds} interleaved rounds of {args.seconds:.1f} s; records on SQLite"
    )
    base_rate = statistics.median(rates["constant JSON (baseline)"])
    base_p50, base_p99 = _table.percentiles(latencies["constant JSON (baseline)"])
    figures = []
    for name in targets:
        rate = statistics.median(rates[name])
        p50, p99 = _table.percentiles(latencies[name])
        print(
            f"  {name:<38} {rate:7.0f} req/s ({rate / base_rate:4.2f}x)"
            f"  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms"
        )
        if name == "constant JSON (baseline)":
            continue
        target = "≥ 0.8× constant" if name.startswith("availability") else "≥ 0.5× constant"
        common = {"bench": "records_api", "samples": len(latencies[name])}
        figures += [
            _table.Figure(
                name=f"{name}, {args.connections} connections",
                value=rate,
                unit="req/s",
                target=target,
                baseline=base_rate,
                baseline_name="constant JSON, direct",
                **common,
            ),
            _table.Figure(
                name=f"{name}, p99 (p50 {p50:.1f} ms)",
                value=p99,
                unit="ms",
                baseline=base_p99,
                baseline_name=f"constant JSON, p50 {base_p50:.1f} ms",
                higher_is_better=False,
                **common,
            ),
        ]
    print("  target: availability >= 0.8x the constant endpoint, notes >= 0.5x")
    _table.report(figures)


if __name__ == "__main__":
    main()
