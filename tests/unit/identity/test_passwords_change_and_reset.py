"""Changing a password, and resetting a forgotten one with a single-use, short-lived token."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from services.identity.app import create_app
from services.identity.models import PasswordReset
from services.identity.settings import IdentitySettings
from shared.db import Database, utc_now
from tests.unit.identity.factories import bearer, login, registered_user

PASSWORD = "correct horse battery"
NEW_PASSWORD = "staple orbit lantern"


class KeptResets:
    """Stands in for the email sender: keeps what it would have mailed."""

    def __init__(self) -> None:
        self.sent: list[tuple[uuid.UUID, str, str]] = []

    async def send(self, *, user_id: uuid.UUID, email: str, token: str) -> None:
        self.sent.append((user_id, email, token))


@pytest.fixture
def resets() -> KeptResets:
    return KeptResets()


@pytest.fixture
async def reset_client(
    settings: IdentitySettings, migrated: str, resets: KeptResets
) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(settings, resets=resets)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            yield client


async def test_change_password_needs_the_current_one_and_ends_refresh_tokens(
    client: httpx.AsyncClient,
) -> None:
    await registered_user(client, email="changer@example.com")
    logged_in = (await login(client, "changer@example.com", PASSWORD)).json()
    token = logged_in["access_token"]
    wrong = await client.post(
        "/v1/auth/password",
        json={"current_password": "nope", "new_password": NEW_PASSWORD},
        headers=bearer(token),
    )
    assert wrong.status_code == 403
    common = await client.post(
        "/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": "password123"},
        headers=bearer(token),
    )
    assert common.status_code == 422
    changed = await client.post(
        "/v1/auth/password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=bearer(token),
    )
    assert changed.status_code == 204
    assert (await login(client, "changer@example.com", PASSWORD)).status_code == 401
    assert (await login(client, "changer@example.com", NEW_PASSWORD)).status_code == 200
    refresh = await client.post(
        "/v1/auth/refresh", json={"refresh_token": logged_in["refresh_token"]}
    )
    assert refresh.status_code == 401


async def test_a_reset_token_is_hashed_works_once_and_ends_refresh_tokens(
    reset_client: httpx.AsyncClient, resets: KeptResets, database: Database
) -> None:
    await registered_user(reset_client, email="forgot@example.com")
    old = (await login(reset_client, "forgot@example.com", PASSWORD)).json()
    asked = await reset_client.post("/v1/auth/password-reset", json={"email": "FORGOT@example.com"})
    assert asked.status_code == 202
    [(_, email, token)] = resets.sent
    assert email == "forgot@example.com"
    async with database.unit_of_work() as session:
        stored = (await session.exec(select(PasswordReset))).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()

    body = {"token": token, "new_password": NEW_PASSWORD}
    assert (
        await reset_client.post("/v1/auth/password-reset/confirm", json=body)
    ).status_code == 204
    again = await reset_client.post(
        "/v1/auth/password-reset/confirm", json={**body, "new_password": "another fine pass"}
    )
    assert again.status_code == 422
    assert again.json()["error"] == "InvalidResetToken"
    assert (await login(reset_client, "forgot@example.com", NEW_PASSWORD)).status_code == 200
    refresh = await reset_client.post(
        "/v1/auth/refresh", json={"refresh_token": old["refresh_token"]}
    )
    assert refresh.status_code == 401


async def test_an_expired_reset_token_is_refused(
    reset_client: httpx.AsyncClient, resets: KeptResets, database: Database
) -> None:
    await registered_user(reset_client, email="slow@example.com")
    await reset_client.post("/v1/auth/password-reset", json={"email": "slow@example.com"})
    [(_, _, token)] = resets.sent
    async with database.unit_of_work() as session:
        stored = (await session.exec(select(PasswordReset))).one()
        stored.expires_at = utc_now() - timedelta(seconds=1)
        session.add(stored)
    response = await reset_client.post(
        "/v1/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 422
    assert (await login(reset_client, "slow@example.com", PASSWORD)).status_code == 200


async def test_a_reset_for_an_unknown_email_looks_the_same_and_sends_nothing(
    reset_client: httpx.AsyncClient, resets: KeptResets
) -> None:
    await registered_user(reset_client, email="real@example.com")
    known = await reset_client.post("/v1/auth/password-reset", json={"email": "real@example.com"})
    unknown = await reset_client.post(
        "/v1/auth/password-reset", json={"email": "ghost@example.com"}
    )
    assert known.status_code == unknown.status_code == 202
    assert known.content == unknown.content
    assert [email for _, email, _ in resets.sent] == ["real@example.com"]


async def test_the_token_is_never_logged(
    reset_client: httpx.AsyncClient, resets: KeptResets, caplog: pytest.LogCaptureFixture
) -> None:
    await registered_user(reset_client, email="private@example.com")
    await reset_client.post("/v1/auth/password-reset", json={"email": "private@example.com"})
    [(_, _, token)] = resets.sent
    assert token not in caplog.text
