"""On PostgreSQL, concurrent token requests with one client assertion get one token: the
assertion's jti is claimed by one INSERT ... ON CONFLICT DO NOTHING, whichever commits first."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from services.identity.app import create_app
from services.identity.settings import IdentitySettings
from shared.migrations import upgrade
from tests.support.smart_client import SmartClient, assertion_form
from tests.unit.identity.factories import admin_token, bearer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
TOKEN_URL = "http://127.0.0.1:8000/oauth/token"


async def test_one_assertion_used_concurrently_gets_exactly_one_token(
    fresh_database: str,
) -> None:
    await asyncio.to_thread(upgrade, ROOT / "services/identity/migrations", fresh_database)
    app = create_app(
        IdentitySettings(
            environment="test", database_url=fresh_database, kafka_bootstrap="127.0.0.1:1"
        )
    )
    smart = SmartClient("ES384")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            admin = await admin_token(app, client)
            registered = await client.post(
                "/v1/partner-apps",
                json={"name": "Acme", "scopes": ["goals:read"], "jwks": smart.jwks()},
                headers=bearer(admin),
            )
            client_id = registered.json()["client_id"]
            for _ in range(3):
                form = assertion_form(smart.assertion(client_id, TOKEN_URL))
                answers = await asyncio.gather(
                    *(client.post("/oauth/token", data=form) for _ in range(12))
                )
                codes = sorted(answer.status_code for answer in answers)
                assert codes == [200] + [401] * 11, [a.text for a in answers]
