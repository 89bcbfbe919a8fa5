"""Identity's internal API for the notifications service: the reset and invitation tokens
that never travel on Kafka, and contacts, behind the internal service key."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col, select

from services.identity.app import create_app
from services.identity.models import Invitation, PasswordReset
from services.identity.settings import IdentitySettings
from shared.db import Database
from shared.events.catalog import InvitationIssued, PasswordResetRequested
from shared.events.envelope import decode
from shared.events.outbox import OutboxMessage
from shared.service_key import DEVELOPMENT_SERVICE_KEY
from tests.unit.identity.factories import bearer, login, registered_user

PASSWORD = "correct horse battery"
KEY = {"authorization": f"Bearer {DEVELOPMENT_SERVICE_KEY}"}


async def _events(database: Database) -> list[tuple[Any, bytes]]:
    async with database.unit_of_work() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    return [
        (decode(row.key, row.value, [(k, v.encode()) for k, v in row.headers]).payload, row.value)
        for row in rows
    ]


async def test_a_reset_link_is_fetched_with_the_key_works_once_and_never_rides_the_event(
    client: httpx.AsyncClient, database: Database
) -> None:
    user = await registered_user(client, email="ada@example.com")
    assert (
        await client.post("/v1/auth/password-reset", json={"email": "ada@example.com"})
    ).status_code == 202
    [(event, raw)] = [
        (p, v) for p, v in await _events(database) if isinstance(p, PasswordResetRequested)
    ]
    assert str(event.user_id) == user["id"]
    path = f"/internal/v1/password-resets/{event.reset_id}/link"

    assert (await client.post(path)).status_code == 401
    assert (
        await client.post(path, headers={"authorization": "Bearer " + "x" * 64})
    ).status_code == 401
    link = await client.post(path, headers=KEY)
    assert link.status_code == 200, link.text
    assert link.headers["cache-control"] == "no-store"
    body = link.json()
    assert (body["email"], body["user_id"]) == ("ada@example.com", user["id"])
    assert body["token"].encode() not in raw
    async with database.unit_of_work() as session:
        [reset] = (await session.exec(select(PasswordReset))).all()
    assert reset.sealed_token and body["token"] not in reset.sealed_token

    confirmed = await client.post(
        "/v1/auth/password-reset/confirm",
        json={"token": body["token"], "new_password": "staple orbit lantern"},
    )
    assert confirmed.status_code == 204, confirmed.text
    gone = await client.post(path, headers=KEY)
    assert gone.status_code == 410
    assert gone.json()["error"] == "LinkNoLongerValid"
    async with database.unit_of_work() as session:
        [reset] = (await session.exec(select(PasswordReset))).all()
    assert reset.sealed_token is None


async def test_an_invitation_link_and_a_contact_are_served_to_the_key_only(
    client: httpx.AsyncClient, database: Database
) -> None:
    clinician = await registered_user(
        client, email="dr@example.com", role="clinician", display_name="Dr Lee"
    )
    token = (await login(client, "dr@example.com", PASSWORD)).json()["access_token"]
    invited = await client.post(
        "/v1/invitations", json={"email": "bo@example.com"}, headers=bearer(token)
    )
    assert invited.status_code == 201, invited.text
    [(event, raw)] = [(p, v) for p, v in await _events(database) if isinstance(p, InvitationIssued)]
    assert str(event.clinician_id) == clinician["id"]
    assert invited.json()["invitation"].encode() not in raw
    link = await client.post(f"/internal/v1/invitations/{event.invitation_id}/link", headers=KEY)
    assert link.status_code == 200, link.text
    assert link.json()["token"] == invited.json()["invitation"]
    assert link.json()["inviter_display_name"] == "Dr Lee"

    contact = await client.get(f"/internal/v1/contacts/{clinician['id']}", headers=KEY)
    assert contact.json()["email"] == "dr@example.com"
    # A user's own access token is not the service key.
    refused = await client.get(f"/internal/v1/contacts/{clinician['id']}", headers=bearer(token))
    assert refused.status_code == 401
    unknown = await client.get(
        "/internal/v1/contacts/00000000-0000-0000-0000-000000000000", headers=KEY
    )
    assert unknown.status_code == 404

    registered = await client.post(
        "/v1/auth/register",
        json={
            "email": "bo@example.com",
            "password": PASSWORD,
            "display_name": "Bo",
            "role": "client",
            "invitation": invited.json()["invitation"],
        },
    )
    assert registered.status_code == 201, registered.text
    gone = await client.post(f"/internal/v1/invitations/{event.invitation_id}/link", headers=KEY)
    assert gone.status_code == 410
    async with database.unit_of_work() as session:
        invitations = (await session.exec(select(Invitation))).all()
    assert all(i.sealed_token is None for i in invitations)


@pytest.fixture
async def production_client(database_url: str, migrated: str) -> Any:
    settings = IdentitySettings(
        environment="production",
        database_url=database_url,
        kafka_bootstrap="127.0.0.1:1",
        secrets_key="A" * 43 + "=",
    )
    app: FastAPI = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
        yield client


async def test_production_without_a_key_refuses_internal_calls_even_with_the_public_one(
    production_client: httpx.AsyncClient,
) -> None:
    response = await production_client.get(
        "/internal/v1/contacts/00000000-0000-0000-0000-000000000000", headers=KEY
    )
    assert response.status_code == 503
