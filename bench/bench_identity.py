"""Login throughput (argon2id dominates it) and access-token verification per core.

Login: the real identity app (migrated SQLite file, Kafka unreachable so events wait in the
outbox) driven in-process over ASGI by concurrent clients. Its baseline, measured in the same
run, is one argon2id verification at the configured parameters: a login can never be cheaper.

Verification: EdDSA (Ed25519, what identity signs with) on one core, compared in the same run
with ES256 (the other algorithm the verifier accepts) and with the verifier's cache hit path.
Prints figures; passes or fails nothing.

    uv run python bench/bench_identity.py [--logins 200] [--concurrency 8] [--tokens 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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
    args = parser.parse_args()

    hasher = owasp_minimum_hasher()
    print(f"cores: {os.cpu_count()}")
    print(
        f"argon2id m={hasher.memory_cost} KiB t={hasher.time_cost} p={hasher.parallelism}",
    )
    hash_seconds, verify_seconds = argon2_figures(args.argon2_samples)
    print(f"  hash   median {hash_seconds * 1000:7.1f} ms")
    print(f"  verify median {verify_seconds * 1000:7.1f} ms  (baseline: a login cannot beat it)")
    ceiling = (os.cpu_count() or 1) / verify_seconds
    rate = await login_throughput(args.logins, args.concurrency)
    print(
        f"login  {rate:8.1f} /s with {args.concurrency} concurrent clients "
        f"(argon2 ceiling on all cores {ceiling:.1f} /s; {rate / ceiling:.0%} of it)"
    )
    for algorithm in ("EdDSA", "ES256"):
        cold = await verifications_per_second(algorithm, args.tokens, cached=False)
        print(f"verify {algorithm:<5} {cold:10.0f} /s per core (each token seen the first time)")
    hot = await verifications_per_second("EdDSA", args.tokens, cached=True)
    print(f"verify EdDSA {hot:10.0f} /s per core (the same token again: verifier cache hit)")


if __name__ == "__main__":
    asyncio.run(main())
