"""Deactivating an account and changing a role: admin only, and both revoke tokens."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlmodel import col, select

from services.identity.app import Identity
from shared.db import Database
from shared.events.catalog import TokensRevoked, UserDeactivated, UserRoleChanged
from shared.events.envelope import decode
from shared.events.outbox import OutboxMessage
from tests.unit.identity.factories import access_token, bearer, login, registered_user

PASSWORD = "correct horse battery"


async def _admin_token(app: FastAPI, client: httpx.AsyncClient) -> str:
    identity: Identity = app.state.identity
    async with app.state.database.unit_of_work() as session:
        await identity.accounts.create_user(
            session,
            email="root@example.com",
            password=PASSWORD,
            display_name="Root",
            role="admin",
        )
    return await access_token(client, "root@example.com")


async def _events(database: Database) -> list[Any]:
    async with database.unit_of_work() as session:
        rows = await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))
        return [
            decode(row.key, row.value, [(k, v.encode()) for k, v in row.headers]).payload
            for row in rows.all()
        ]


async def test_an_admin_deactivates_an_account_and_every_token_is_revoked(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    admin = await _admin_token(app, client)
    user = await registered_user(client, email="leaver@example.com")
    logged_in = (await login(client, "leaver@example.com", PASSWORD)).json()

    response = await client.post(f"/v1/users/{user['id']}/deactivate", headers=bearer(admin))
    assert response.status_code == 200, response.text

    refresh = await client.post(
        "/v1/auth/refresh", json={"refresh_token": logged_in["refresh_token"]}
    )
    assert refresh.status_code == 401
    me = await client.get("/v1/users/me", headers=bearer(logged_in["access_token"]))
    assert me.status_code == 401
    events = [e for e in await _events(database) if not e.type.endswith("registered.v1")]
    assert [type(e) for e in events] == [TokensRevoked, UserDeactivated]
    assert all(e.user_id == uuid.UUID(user["id"]) for e in events)
    assert events[0].reason == "deactivated"
    # Deactivating again changes nothing and publishes nothing.
    again = await client.post(f"/v1/users/{user['id']}/deactivate", headers=bearer(admin))
    assert again.status_code == 200
    assert len(await _events(database)) == len(events) + 2  # + the two registrations


async def test_only_admins_deactivate(client: httpx.AsyncClient) -> None:
    await registered_user(client, email="clin@example.com", role="clinician")
    token = await access_token(client, "clin@example.com")
    victim = await registered_user(client, email="victim@example.com")
    response = await client.post(f"/v1/users/{victim['id']}/deactivate", headers=bearer(token))
    assert response.status_code == 403
    assert (await login(client, "victim@example.com", PASSWORD)).status_code == 200


async def test_deactivating_an_unknown_user_is_not_found(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    admin = await _admin_token(app, client)
    response = await client.post(f"/v1/users/{uuid.uuid4()}/deactivate", headers=bearer(admin))
    assert response.status_code == 404
    assert response.json()["error"] == "UserNotFound"


async def test_an_admin_changes_a_role_and_the_change_is_published(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    admin = await _admin_token(app, client)
    user = await registered_user(client, email="promoted@example.com")
    response = await client.put(
        f"/v1/users/{user['id']}/role", json={"role": "clinician"}, headers=bearer(admin)
    )
    assert response.status_code == 200
    assert response.json()["role"] == "clinician"
    events = [e for e in await _events(database) if isinstance(e, UserRoleChanged)]
    assert [(e.old_role, e.new_role) for e in events] == [("client", "clinician")]
    relogin = (await login(client, "promoted@example.com", PASSWORD)).json()
    assert relogin["user"]["role"] == "clinician"
