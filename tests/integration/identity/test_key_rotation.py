"""Signing keys rotate under load: identity, records and the gateway, each served for real.

Identity serves its JWKS over HTTP; records and the gateway verify with their default
:class:`shared.tokens.JwksKeySource` pointed at it. Identity's ``rotate-keys`` command runs
between two sign-ins, and a burst of parallel requests through the gateway to records carries
tokens of both keys.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.app import create_app as create_gateway
from services.identity.__main__ import rotate_keys
from services.identity.app import create_app as create_identity
from services.identity.settings import IdentitySettings
from services.records.app import create_app as create_records
from services.records.app import migrate as migrate_records
from services.records.settings import RecordsSettings
from shared.migrations import upgrade
from tests.unit.gateway.conftest import ServedApp, gateway_settings

IDENTITY_MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "identity" / "migrations"
PASSWORD = "correct horse battery"
JWKS_PATH = "/.well-known/jwks.json"
PARALLEL = 50
# No broker here: the outbox relays and consumers retry against a port nothing listens on.
NO_KAFKA = "127.0.0.1:1"


class CountingJwks:
    """Identity's app, counting how often its JWKS is fetched (the verifiers' refetches)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.fetches = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == JWKS_PATH:
            self.fetches += 1
        await self.app(scope, receive, send)


@dataclass
class Deployment:
    identity_settings: IdentitySettings
    identity: httpx.AsyncClient
    jwks: CountingJwks
    gateway: httpx.AsyncClient


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    identity_db = f"sqlite+aiosqlite:///{tmp_path / 'identity.db'}"
    records_db = f"sqlite+aiosqlite:///{tmp_path / 'records.db'}"
    await asyncio.to_thread(upgrade, IDENTITY_MIGRATIONS, identity_db)
    await asyncio.to_thread(migrate_records, records_db)
    identity_settings = IdentitySettings(
        environment="test", database_url=identity_db, kafka_bootstrap=NO_KAFKA
    )
    identity_app = create_identity(identity_settings)
    jwks = CountingJwks(identity_app)
    identity = await ServedApp(jwks, lifespan="on").start()
    jwks_url = identity.url + JWKS_PATH
    records = await ServedApp(
        create_records(
            RecordsSettings(
                environment="test",
                database_url=records_db,
                kafka_bootstrap=NO_KAFKA,
                jwks_url=jwks_url,
                reminder_poll_seconds=3600,
                completion_poll_seconds=3600,
            )
        ),
        lifespan="on",
    ).start()
    gateway_app = create_gateway(
        gateway_settings(records_url=records.url, identity_url=identity.url, jwks_url=jwks_url)
    )
    try:
        async with (
            gateway_app.router.lifespan_context(gateway_app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(gateway_app), base_url="http://gateway"
            ) as gateway,
            httpx.AsyncClient(base_url=identity.url, timeout=30) as identity_client,
        ):
            yield Deployment(identity_settings, identity_client, jwks, gateway)
    finally:
        await records.stop()
        await identity.stop()


async def _sign_in(identity: httpx.AsyncClient, email: str) -> str:
    response = await identity.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def _read(gateway: httpx.AsyncClient, token: str) -> httpx.Response:
    # Through the gateway to records: both verify the token, each with its own key source.
    # (No appointments: nothing to audit, so only token checking is under load.)
    return await gateway.get("/v1/appointments", headers={"Authorization": f"Bearer {token}"})


def _kid(token: str) -> Any:
    return jwt.get_unverified_header(token)["kid"]


async def test_tokens_of_both_keys_pass_records_and_the_gateway_across_a_rotation(
    deployment: Deployment,
) -> None:
    identity, gateway = deployment.identity, deployment.gateway
    registered = await identity.post(
        "/v1/auth/register",
        json={
            "email": "rotating@example.com",
            "password": PASSWORD,
            "display_name": "Rotating",
            "role": "client",
        },
    )
    assert registered.status_code == 201, registered.text
    old = await _sign_in(identity, "rotating@example.com")
    warm = await _read(gateway, old)
    assert warm.status_code == 200, warm.text
    fetched_before = deployment.jwks.fetches  # the gateway's first fetch and records'

    await asyncio.to_thread(rotate_keys, deployment.identity_settings, argparse.Namespace())
    new = await _sign_in(identity, "rotating@example.com")
    assert _kid(new) != _kid(old)

    # Both verifiers fetched the JWKS moments ago; the new key is unknown to them.
    tokens = [new if i % 2 else old for i in range(PARALLEL)]
    responses = await asyncio.gather(*(_read(gateway, token) for token in tokens))
    assert [r.status_code for r in responses] == [200] * PARALLEL, [
        r.text for r in responses if r.status_code != 200
    ][:3]
    # One refetch per verifier for the new key, however many requests carried it at once.
    assert deployment.jwks.fetches - fetched_before <= 2

    # The old key's tokens keep passing (until they expire); the new ones too.
    assert (await _read(gateway, old)).status_code == 200
    assert (await _read(gateway, new)).status_code == 200
