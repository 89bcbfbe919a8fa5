"""Sign-up rules: clinicians wait for an admin's approval, clients join by invitation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from services.identity.app import Identity, create_app
from services.identity.models import Invitation
from services.identity.settings import IdentitySettings
from shared.db import Database, utc_now
from tests.unit.identity.factories import access_token, bearer, login, register

PASSWORD = "correct horse battery"


@pytest.fixture
async def strict(settings: IdentitySettings, migrated: str) -> AsyncIterator[FastAPI]:
    strict_settings = settings.model_copy(
        update={"clinician_approval_required": True, "client_invitation_required": True}
    )
    app = create_app(strict_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def http(strict: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=strict)
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
        yield client


async def _approved_clinician(app: FastAPI, http: httpx.AsyncClient) -> str:
    identity: Identity = app.state.identity
    async with app.state.database.unit_of_work() as session:
        await identity.accounts.create_user(
            session, email="doc@example.com", password=PASSWORD, display_name="D", role="clinician"
        )
    return await access_token(http, "doc@example.com")


async def _invite(http: httpx.AsyncClient, clinician: str, email: str) -> dict[str, Any]:
    response = await http.post("/v1/invitations", json={"email": email}, headers=bearer(clinician))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_production_defaults_to_both_rules_and_development_to_neither() -> None:
    production = IdentitySettings(environment="production")
    assert production.requires_clinician_approval and production.requires_client_invitation
    development = IdentitySettings(environment="development")
    assert not development.requires_clinician_approval
    assert not development.requires_client_invitation


async def test_a_self_registered_clinician_waits_for_approval(
    strict: FastAPI, http: httpx.AsyncClient
) -> None:
    identity: Identity = strict.state.identity
    async with strict.state.database.unit_of_work() as session:
        await identity.accounts.create_user(
            session, email="root@example.com", password=PASSWORD, display_name="R", role="admin"
        )
    admin = await access_token(http, "root@example.com")
    registered = await register(http, email="new-doc@example.com", role="clinician")
    assert registered.status_code == 201
    waiting = await login(http, "new-doc@example.com", PASSWORD)
    assert waiting.status_code == 403
    assert waiting.json()["error"] == "AccountPendingApproval"
    # A wrong password still gets the ordinary answer: nothing about approval leaks.
    assert (await login(http, "new-doc@example.com", "wrong password")).status_code == 401

    approved = await http.post(
        f"/v1/users/{registered.json()['id']}/approve", headers=bearer(admin)
    )
    assert approved.status_code == 200
    assert (await login(http, "new-doc@example.com", PASSWORD)).status_code == 200


async def test_clients_join_only_with_a_valid_invitation_once(
    strict: FastAPI, http: httpx.AsyncClient
) -> None:
    clinician = await _approved_clinician(strict, http)
    without = await register(http, email="walk-in@example.com")
    assert without.status_code == 403
    assert without.json()["error"] == "InvitationRequired"

    invited = await _invite(http, clinician, "Invited@Example.com")
    assert invited["email"] == "invited@example.com"
    wrong_email = await http.post(
        "/v1/auth/register",
        json={
            "email": "someone-else@example.com",
            "password": PASSWORD,
            "display_name": "Else",
            "role": "client",
            "invitation": invited["invitation"],
        },
    )
    assert wrong_email.status_code == 403
    body = {
        "email": "invited@example.com",
        "password": PASSWORD,
        "display_name": "Invited",
        "role": "client",
        "invitation": invited["invitation"],
    }
    assert (await http.post("/v1/auth/register", json=body)).status_code == 201
    reused = await http.post("/v1/auth/register", json={**body, "email": "invited@example.com"})
    assert reused.status_code == 403


async def test_an_expired_invitation_is_refused(
    strict: FastAPI, http: httpx.AsyncClient, database: Database
) -> None:
    clinician = await _approved_clinician(strict, http)
    invited = await _invite(http, clinician, "late@example.com")
    async with database.unit_of_work() as session:
        row = (await session.exec(select(Invitation))).one()
        row.expires_at = utc_now() - timedelta(seconds=1)
        session.add(row)
    response = await http.post(
        "/v1/auth/register",
        json={
            "email": "late@example.com",
            "password": PASSWORD,
            "display_name": "Late",
            "role": "client",
            "invitation": invited["invitation"],
        },
    )
    assert response.status_code == 403


async def test_only_clinicians_invite(http: httpx.AsyncClient, strict: FastAPI) -> None:
    clinician = await _approved_clinician(strict, http)
    invited = await _invite(http, clinician, "first@example.com")
    await http.post(
        "/v1/auth/register",
        json={
            "email": "first@example.com",
            "password": PASSWORD,
            "display_name": "First",
            "role": "client",
            "invitation": invited["invitation"],
        },
    )
    client_token = await access_token(http, "first@example.com")
    response = await http.post(
        "/v1/invitations", json={"email": "friend@example.com"}, headers=bearer(client_token)
    )
    assert response.status_code == 403
