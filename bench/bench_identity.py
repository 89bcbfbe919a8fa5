"""Login throughput (argon2id dominates it) and access-token verification per core.

Login: the real identity app (migrated SQLite file, Kafka unreachable so events wait in the
outbox) driven in-process over ASGI by concurrent clients. Its baseline, measured in the same
run, is argon2id verifications at the configured parameters on all cores at once (one thread
per core; argon2-cffi releases the GIL): a login can never be cheaper.

Verification: EdDSA (Ed25519, what identity signs with) on one core, compared in the same run
with ES256 (the other algorithm the verifier accepts) and with the verifier's cache hit path.
Prints figures; passes or fails nothing.

    uv run python bench/bench_identity.py [--logins 200] [--concurrency 8] [--tokens 5000]
        [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench import _table
from services.identity.app import create_app
from services.identity.passwords import owasp_minimum_hasher
from services.identity.settings import IdentitySettings
from shared.migrations import upgrade
from shared.tokens import StaticKeySource, TokenVerifier

MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "identity" / "migrations"
PASSWORD = "correct horse battery"


def argon2_figures(samples: int) -> tuple[float, float]:
    """Median seconds of one argon2id hash and one verify at the configured parameters."""
    hasher = owasp_minimum_hasher()
    hashes, verifies = [], []
    stored = hasher.hash(PASSWORD)
    for _ in range(samples):
        started = time.perf_counter()
        hasher.hash(PASSWORD)
        hashes.append(time.perf_counter() - started)
        started = time.perf_counter()
        hasher.verify(stored, PASSWORD)
        verifies.append(time.perf_counter() - started)
    return sorted(hashes)[samples // 2], sorted(verifies)[samples // 2]


def argon2_ceiling(verifications: int) -> float:
    """argon2id verifications per second with every core verifying at once."""
    hasher = owasp_minimum_hasher()
    stored = hasher.hash(PASSWORD)
    cores = os.cpu_count() or 1
    with ThreadPoolExecutor(cores) as pool:
        started = time.perf_counter()
        list(pool.map(lambda _: hasher.verify(stored, PASSWORD), range(verifications)))
        return verifications / (time.perf_counter() - started)


async def login_throughput(logins: int, concurrency: int) -> float:
    """Successful logins per second through the real app."""
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite+aiosqlite:///{scratch}/identity.db"
        await asyncio.to_thread(upgrade, MIGRATIONS, url)
        settings = IdentitySettings(
            environment="test",
            database_url=url,
            kafka_bootstrap="127.0.0.1:1",
            log_level="WARNING",
            # The benchmark is one client address hammering on purpose.
            login_attempts_per_minute_per_address=1e9,
            login_address_burst=1_000_000,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
                emails = [f"bench-{n}@example.com" for n in range(concurrency)]
                for email in emails:
                    await client.post(
                        "/v1/auth/register",
                        json={
                            "email": email,
                            "password": PASSWORD,
                            "display_name": "Bench",
                            "role": "client",
                        },
                    )
                per_worker = logins // concurrency

                async def worker(email: str) -> None:
                    for _ in range(per_worker):
                        response = await client.post(
                            "/v1/auth/login", json={"email": email, "password": PASSWORD}
                        )
                        assert response.status_code == 200, response.text

                started = time.perf_counter()
                await asyncio.gather(*(worker(email) for email in emails))
                elapsed = time.perf_counter() - started
        return per_worker * concurrency / elapsed


def _claims() -> dict[str, object]:
    now = int(time.time())
    return {
        "iss": "rapport-identity",
        "aud": "rapport",
        "sub": str(uuid.uuid4()),
        "iat": now,
        "nbf": now,
        "exp": now + 900,
        "jti": str(uuid.uuid4()),
        "role": "client",
        "scope": "",
    }


async def verifications_per_second(algorithm: str, tokens: int, *, cached: bool) -> float:
    """Tokens verified per second on this one event loop (one core)."""
    if algorithm == "EdDSA":
        private: object = Ed25519PrivateKey.generate()
        public_jwk = jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key(), as_dict=True)  # type: ignore[attr-defined]
    else:
        private = generate_private_key(SECP256R1())
        public_jwk = jwt.algorithms.ECAlgorithm.to_jwk(private.public_key(), as_dict=True)  # type: ignore[attr-defined]
    key = jwt.PyJWK({**public_jwk, "kid": "bench", "alg": algorithm}, algorithm=algorithm)
    verifier = TokenVerifier(
        StaticKeySource({"bench": key}), issuer="rapport-identity", audience="rapport"
    )
    issued = [
        jwt.encode(_claims(), private, algorithm=algorithm, headers={"kid": "bench"})  # type: ignore[arg-type]
        for _ in range(1 if cached else tokens)
    ]
    started = time.perf_counter()
    for n in range(tokens):
        await verifier.verify(issued[0 if cached else n])
    return tokens / (time.perf_counter() - started)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--argon2-samples", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does it still run")
    args = parser.parse_args()
    if args.quick:
        args.logins, args.concurrency, args.tokens, args.argon2_samples = 8, 4, 100, 1

    hasher = owasp_minimum_hasher()
    print(f"cores: {os.cpu_count()}")
    print(
        f"argon2id m={hasher.memory_cost} KiB t={hasher.time_cost} p={hasher.parallelism}",
    )
    hash_seconds, verify_seconds = argon2_figures(args.argon2_samples)
    print(f"  hash   median {hash_seconds * 1000:7.1f} ms")
    print(f"  verify median {verify_seconds * 1000:7.1f} ms  (baseline: a login cannot beat it)")
    # As many verifications as the logins do, so both see the same stretch of machine load.
    ceiling = argon2_ceiling(max(args.logins, 2 * (os.cpu_count() or 1)))
    rate = await login_throughput(args.logins, args.concurrency)
    print(
        f"login  {rate:8.1f} /s with {args.concurrency} concurrent clients "
        f"(argon2 ceiling on all cores {ceiling:.1f} /s; {rate / ceiling:.0%} of it)"
    )
    cold = {}
    for algorithm in ("EdDSA", "ES256"):
        cold[algorithm] = await verifications_per_second(algorithm, args.tokens, cached=False)
        print(
            f"verify {algorithm:<5} {cold[algorithm]:10.0f} /s per core "
            "(each token seen the first time)"
        )
    hot = await verifications_per_second("EdDSA", args.tokens, cached=True)
    print(f"verify EdDSA {hot:10.0f} /s per core (the same token again: verifier cache hit)")
    figure = functools.partial(_table.Figure, bench="identity")
    _table.report(
        [
            figure(
                name=f"login, {args.concurrency} concurrent",
                value=rate,
                unit="logins/s",
                samples=args.logins // args.concurrency * args.concurrency,
                target="≥ 0.8× the argon2id ceiling",
                baseline=ceiling,
                baseline_name="argon2id verify, all cores",
            ),
            figure(
                name="token verify EdDSA, one core",
                value=cold["EdDSA"],
                unit="tokens/s",
                samples=args.tokens,
                baseline=cold["ES256"],
                baseline_name="ES256",
            ),
            figure(
                name="token verify, cache hit, one core",
                value=hot,
                unit="tokens/s",
                samples=args.tokens,
                baseline=cold["EdDSA"],
                baseline_name="EdDSA first seen",
            ),
        ]
    )


if __name__ == "__main__":
    asyncio.run(main())
