"""A clinician withdraws a partner app's access: new tokens stop naming them, and the
revocation is published for the services that limit partners (webhooks)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import httpx
import jwt
from fastapi import FastAPI
from sqlmodel import select

from services.identity.app import Identity
from shared.db import Database
from shared.events.envelope import decode
from shared.events.outbox import OutboxMessage
from tests.unit.identity.factories import access_token, bearer, registered_user

PASSWORD = "correct horse battery"
REVOKED = "rapport.identity.partner.access_revoked.v1"


async def _partner(app: FastAPI, client: httpx.AsyncClient) -> dict[str, Any]:
    identity: Identity = app.state.identity
    async with app.state.database.unit_of_work() as session:
        await identity.accounts.create_user(
            session, email="ops@example.com", password=PASSWORD, display_name="Ops", role="admin"
        )
    admin = await access_token(client, "ops@example.com")
    response = await client.post(
        "/v1/partner-apps",
        json={"name": "Acme EHR", "scopes": ["appointments:read"]},
        headers=bearer(admin),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def _clinicians_claim(client: httpx.AsyncClient, partner: dict[str, Any]) -> list[str]:
    raw = base64.b64encode(f"{partner['client_id']}:{partner['client_secret']}".encode()).decode()
    response = await client.post(
        "/oauth/token",
        content="grant_type=client_credentials",
        headers={
            "content-type": "application/x-www-form-urlencoded",
            "authorization": f"Basic {raw}",
        },
    )
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    clinicians: list[str] = claims["clinicians"]
    return clinicians


async def _published(database: Database, event_type: str) -> list[OutboxMessage]:
    async with database.unit_of_work() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    return [r for r in rows if r.event_type == event_type]


async def test_a_revoked_clinician_is_not_in_new_partner_tokens(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    partner = await _partner(app, client)
    staying = await registered_user(client, email="stays@example.com", role="clinician")
    leaving = await registered_user(client, email="leaves@example.com", role="clinician")
    for email in ("stays@example.com", "leaves@example.com"):
        token = await access_token(client, email)
        granted = await client.put(
            f"/v1/partner-apps/{partner['client_id']}/grants/me", headers=bearer(token)
        )
        assert granted.status_code == 204
    assert sorted(await _clinicians_claim(client, partner)) == sorted(
        [staying["id"], leaving["id"]]
    )

    token = await access_token(client, "leaves@example.com")
    revoked = await client.delete(
        f"/v1/partner-apps/{partner['client_id']}/grants/me", headers=bearer(token)
    )

    assert revoked.status_code == 204
    assert await _clinicians_claim(client, partner) == [staying["id"]]


async def test_a_revocation_is_published_once_keyed_like_the_grant(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    partner = await _partner(app, client)
    clinician = await registered_user(client, email="doc@example.com", role="clinician")
    token = await access_token(client, "doc@example.com")
    path = f"/v1/partner-apps/{partner['client_id']}/grants/me"
    assert (await client.put(path, headers=bearer(token))).status_code == 204

    first = await client.delete(path, headers=bearer(token))
    again = await client.delete(path, headers=bearer(token))

    assert (first.status_code, again.status_code) == (204, 204)
    rows = await _published(app.state.database, REVOKED)
    assert len(rows) == 1  # revoking nothing publishes nothing
    assert rows[0].key == partner["client_id"].encode()
    envelope = decode(rows[0].key, rows[0].value, [(k, v.encode()) for k, v in rows[0].headers])
    assert envelope.payload.model_dump(include={"client_id", "clinician_id"}) == {
        "client_id": partner["client_id"],
        "clinician_id": uuid.UUID(clinician["id"]),
    }


async def test_only_a_clinician_revokes_their_own_grant_of_a_known_app(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    partner = await _partner(app, client)
    await registered_user(client, email="client@example.com", role="client")
    await registered_user(client, email="doc@example.com", role="clinician")
    as_client = await access_token(client, "client@example.com")
    as_clinician = await access_token(client, "doc@example.com")

    by_client = await client.delete(
        f"/v1/partner-apps/{partner['client_id']}/grants/me", headers=bearer(as_client)
    )
    unknown_app = await client.delete(
        "/v1/partner-apps/pa_nonexistent/grants/me", headers=bearer(as_clinician)
    )

    assert by_client.status_code == 403
    assert unknown_app.status_code == 404
    assert unknown_app.json()["error"] == "PartnerAppNotFound"
