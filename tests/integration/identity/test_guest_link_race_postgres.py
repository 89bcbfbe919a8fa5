"""On PostgreSQL, a one-time guest link opened by several people at once lets exactly one in:
the redemption's UPDATE matches only an unused, unrevoked link."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from services.identity.app import create_app
from services.identity.settings import IdentitySettings
from shared.migrations import upgrade
from tests.unit.identity.factories import access_token, bearer, registered_user

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


async def test_a_link_redeemed_concurrently_gives_one_guest_token(fresh_database: str) -> None:
    await asyncio.to_thread(upgrade, ROOT / "services/identity/migrations", fresh_database)
    app = create_app(
        IdentitySettings(
            environment="test", database_url=fresh_database, kafka_bootstrap="127.0.0.1:1"
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            email = f"dr-{uuid.uuid4().hex[:8]}@example.com"
            await registered_user(client, email=email, role="clinician", display_name="Dr. Lee")
            headers = bearer(await access_token(client, email))
            for _ in range(3):
                issued = await client.post(
                    "/v1/guest-links",
                    json={"session_id": str(uuid.uuid4()), "relationship": "interpreter"},
                    headers=headers,
                )
                assert issued.status_code == 201, issued.text
                form = {"link_token": issued.json()["link_token"]}
                answers = await asyncio.gather(
                    *(client.post("/v1/guest-tokens", json=form) for _ in range(12))
                )
                codes = sorted(answer.status_code for answer in answers)
                assert codes == [200] + [410] * 11, [a.text for a in answers]
