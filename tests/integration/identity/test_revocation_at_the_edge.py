"""Revocation reaches the edge: identity on PostgreSQL publishes through its outbox to a real
Kafka broker, and the gateway refuses the revoked user's still-unexpired access token."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.identity.app import Identity
from services.identity.app import create_app as create_identity
from services.identity.settings import IdentitySettings
from shared.migrations import upgrade
from shared.tokens import StaticKeySource
from tests.support.waiting import until

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "identity" / "migrations"
PASSWORD = "correct horse battery"


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def identity(fresh_database: str, kafka_bootstrap: str) -> AsyncIterator[FastAPI]:
    await asyncio.to_thread(upgrade, MIGRATIONS, fresh_database)
    settings = IdentitySettings(
        environment="test", database_url=fresh_database, kafka_bootstrap=kafka_bootstrap
    )
    app = create_identity(settings)
    async with app.router.lifespan_context(app):
        yield app


def _client(app: FastAPI, host: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


async def _gateway(identity_client: httpx.AsyncClient, kafka_bootstrap: str) -> FastAPI:
    keyset = jwt.PyJWKSet.from_dict((await identity_client.get("/.well-known/jwks.json")).json())
    closed = f"http://127.0.0.1:{_closed_port()}"
    settings = GatewaySettings(
        environment="test",
        kafka_bootstrap=kafka_bootstrap,
        records_url=closed,
        identity_url=closed,
        webhooks_url=closed,
        signaling_urls=[closed],
        upstream_connect_timeout=1.0,
        readiness_timeout=1.0,
    )
    keys = {key.key_id: key for key in keyset.keys if key.key_id}
    return create_gateway(settings, key_source=StaticKeySource(keys))


async def _passes_the_edge(gateway: httpx.AsyncClient, token: str) -> bool:
    # Records is not running: a request that passes the token check fails upstream (503);
    # one refused at the edge is a 401.
    response = await gateway.get("/v1/appointments", headers={"authorization": f"Bearer {token}"})
    assert response.status_code in (401, 503), response.text
    return response.status_code == 503


async def _until_refused(gateway: httpx.AsyncClient, token: str) -> bool:
    """Wait until the gateway refuses ``token`` (bounded only against a hang: an access
    token outlives the bound, so the refusal is the revocation's, not the expiry's)."""

    async def refused() -> bool:
        return not await _passes_the_edge(gateway, token)

    await until(refused, "the gateway refuses the revoked access token", interval=0.1)
    return True


async def _login(client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    response = await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_deactivated_users_access_token_is_refused_by_the_gateway(
    identity: FastAPI, kafka_bootstrap: str
) -> None:
    service: Identity = identity.state.identity
    async with identity.state.database.unit_of_work() as session:
        await service.accounts.create_user(
            session, email="admin@example.com", password=PASSWORD, display_name="A", role="admin"
        )
    async with _client(identity, "identity") as ident:
        registered = await ident.post(
            "/v1/auth/register",
            json={
                "email": "leaving@example.com",
                "password": PASSWORD,
                "display_name": "Leaving",
                "role": "client",
            },
        )
        assert registered.status_code == 201
        user = registered.json()
        victim = await _login(ident, "leaving@example.com")
        bystander = await _login(ident, "admin@example.com")

        gateway_app = await _gateway(ident, kafka_bootstrap)
        async with (
            gateway_app.router.lifespan_context(gateway_app),
            _client(gateway_app, "gateway") as gateway,
        ):
            assert await _passes_the_edge(gateway, victim["access_token"])

            deactivated = await ident.post(
                f"/v1/users/{user['id']}/deactivate",
                headers={"authorization": f"Bearer {bystander['access_token']}"},
            )
            assert deactivated.status_code == 200, deactivated.text

            assert await _until_refused(gateway, victim["access_token"])
            assert await _passes_the_edge(gateway, bystander["access_token"])
            assert gateway_app.state.revocations.applied >= 1


async def test_refresh_token_reuse_logs_the_user_out_at_the_edge(
    identity: FastAPI, kafka_bootstrap: str
) -> None:
    async with _client(identity, "identity") as ident:
        await ident.post(
            "/v1/auth/register",
            json={
                "email": "phished@example.com",
                "password": PASSWORD,
                "display_name": "Phished",
                "role": "client",
            },
        )
        first = await _login(ident, "phished@example.com")
        gateway_app = await _gateway(ident, kafka_bootstrap)
        async with (
            gateway_app.router.lifespan_context(gateway_app),
            _client(gateway_app, "gateway") as gateway,
        ):
            rotated = await ident.post(
                "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
            )
            assert rotated.status_code == 200
            replayed = await ident.post(
                "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
            )
            assert replayed.status_code == 401
            assert await _until_refused(gateway, rotated.json()["access_token"])


async def test_a_logout_ends_that_sign_in_at_the_edge_and_no_other(
    identity: FastAPI, kafka_bootstrap: str
) -> None:
    async with _client(identity, "identity") as ident:
        registered = await ident.post(
            "/v1/auth/register",
            json={
                "email": "two-devices@example.com",
                "password": PASSWORD,
                "display_name": "Two devices",
                "role": "client",
            },
        )
        assert registered.status_code == 201, registered.text
        phone = await _login(ident, "two-devices@example.com")
        laptop = await _login(ident, "two-devices@example.com")
        gateway_app = await _gateway(ident, kafka_bootstrap)
        async with (
            gateway_app.router.lifespan_context(gateway_app),
            _client(gateway_app, "gateway") as gateway,
        ):
            assert await _passes_the_edge(gateway, phone["access_token"])
            assert await _passes_the_edge(gateway, laptop["access_token"])

            out = await ident.post(
                "/v1/auth/logout", json={"refresh_token": phone["refresh_token"]}
            )
            assert out.status_code == 204, out.text

            assert await _until_refused(gateway, phone["access_token"])
            refused = await gateway.get(
                "/v1/appointments", headers={"authorization": f"Bearer {phone['access_token']}"}
            )
            assert refused.json() == {"error": "Unauthorized", "detail": "token revoked"}
            # Heard and applied: the other sign-in of the same user still passes.
            assert await _passes_the_edge(gateway, laptop["access_token"])
