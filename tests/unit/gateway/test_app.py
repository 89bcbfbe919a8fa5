"""The composition root: the gateway's own endpoints, and what it wires."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.__main__ import main
from gateway.app import create_app
from tests.support.tokens import TestTokenIssuer
from tests.unit.gateway.conftest import EchoUpstream, Gateway, ServedApp, gateway_settings


async def test_healthz_answers_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "gateway"}


async def test_readyz_checks_every_upstream(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {
            "identity": "ok",
            "records": "ok",
            "signaling": "ok",
            "webhooks": "ok",
            "notifications": "ok",
        },
    }


async def test_readyz_fails_when_upstreams_are_down(gateway_without_upstreams: Gateway) -> None:
    async with httpx.AsyncClient(base_url=gateway_without_upstreams.url) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert set(checks) == {"identity", "records", "signaling", "webhooks", "notifications"}
    assert all(value.startswith("failing") for value in checks.values())


async def test_metrics_count_routed_requests_beside_the_shared_ones(
    client: httpx.AsyncClient, bearer: dict[str, str]
) -> None:
    await client.get("/v1/goals/for-metrics", headers=bearer)
    await client.get("/v1/goals/for-metrics")
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert int(response.headers["content-length"]) == len(response.content)
    assert (
        'rapport_gateway_requests_total{method="GET",route="/v1/goals",status="200",'
        'upstream="records"}' in text
    )
    assert (
        'rapport_gateway_requests_total{method="GET",route="/v1/goals",status="401",'
        'upstream="records"}' in text
    )
    assert 'rapport_http_requests_total{method="GET",route="/healthz"' in text
    assert "for-metrics" not in text


async def test_by_default_tokens_are_checked_with_the_keys_identity_publishes(
    echo_upstream: EchoUpstream, token_issuer: TestTokenIssuer
) -> None:
    identity = FastAPI()

    @identity.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        return token_issuer.jwks

    served = await ServedApp(identity, lifespan="off").start()
    try:
        settings = gateway_settings(
            jwks_url=f"{served.url}/.well-known/jwks.json", records_url=echo_upstream.url
        )
        app = create_app(settings)
        token = token_issuer.issue("3f1c0e7e-1111-4222-8333-944455556666", "client")
        unknown_key = TestTokenIssuer(kid="other").issue("3f1c0e7e-1111", "client")
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
                allowed = await http.get(
                    "/v1/goals/with-jwks", headers={"Authorization": f"Bearer {token}"}
                )
                foreign = await http.get(
                    "/v1/goals/with-jwks",
                    headers={"Authorization": f"Bearer {unknown_key}"},
                )
    finally:
        await served.stop()
    assert allowed.status_code == 200
    assert foreign.status_code == 401


async def test_the_app_starts_and_stops_cleanly_without_any_upstream() -> None:
    app = create_app(gateway_settings(records_url="http://127.0.0.1:1"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            assert (await http.get("/healthz")).status_code == 200


def test_the_command_line_knows_only_serve() -> None:
    with pytest.raises(SystemExit) as refused:
        main(["migrate"])
    assert refused.value.code == 2
