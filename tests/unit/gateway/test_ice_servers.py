"""``GET /v1/ice-servers`` through the gateway, to the real signaling app.

The web client holds a signaling token for its call (it asks for ICE servers on the socket
with the same token); the HTTP route takes that token too. The gateway lets it through to
signaling, which verifies it: an access token is refused there.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.signaling.app import create_app as create_signaling
from shared.migrations import upgrade
from tests.support.tokens import TestTokenIssuer
from tests.unit.gateway.conftest import ServedApp, gateway_settings, serve_gateway
from tests.unit.signaling.conftest import MIGRATIONS, settings_for

STUN = "stun:stun.example.com:3478"


@pytest.fixture
async def through_gateway(
    tmp_path: Path, token_issuer: TestTokenIssuer
) -> AsyncIterator[httpx.AsyncClient]:
    settings = settings_for(tmp_path, stun_urls=[STUN], revocations_enabled=False)
    await asyncio.to_thread(upgrade, MIGRATIONS, settings.database_url)
    signaling = await ServedApp(
        create_signaling(settings, key_source=token_issuer.key_source), lifespan="on"
    ).start()
    nowhere = "http://127.0.0.1:9"
    gateway = await serve_gateway(
        gateway_settings(
            identity_url=nowhere,
            records_url=nowhere,
            webhooks_url=nowhere,
            signaling_urls=[signaling.url],
        ),
        token_issuer,
    )
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10.0) as http:
            yield http
    finally:
        await gateway.stop()
        await signaling.stop()


async def test_a_participant_gets_ice_servers_with_their_signaling_token(
    through_gateway: httpx.AsyncClient, token_issuer: TestTokenIssuer
) -> None:
    client_id = uuid.uuid4()
    token = token_issuer.signaling(client_id, "client", uuid.uuid4())
    response = await through_gateway.get(
        "/v1/ice-servers", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["ice_servers"] == [{"urls": [STUN]}]


async def test_an_access_token_or_none_is_refused_by_signaling(
    through_gateway: httpx.AsyncClient, token_issuer: TestTokenIssuer
) -> None:
    access = token_issuer.issue(uuid.uuid4(), "client")
    for headers in ({"Authorization": f"Bearer {access}"}, {}):
        response = await through_gateway.get("/v1/ice-servers", headers=headers)
        assert response.status_code == 401, response.text
        assert response.json()["error"] == "Unauthorized"
