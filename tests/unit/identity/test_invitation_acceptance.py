"""Accepting an invitation: who accepted it and when are stored, and ``invitation.accepted``
is queued in the registration's own transaction (records links the two from it)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlmodel import col, select

from services.identity.app import Identity
from services.identity.models import Invitation
from shared.db import Database
from shared.events.catalog import InvitationAccepted, UserRegistered
from shared.events.envelope import decode
from shared.events.outbox import OutboxMessage
from tests.unit.identity.factories import access_token, bearer

PASSWORD = "correct horse battery"


async def _clinician(app: FastAPI, client: httpx.AsyncClient) -> str:
    identity: Identity = app.state.identity
    async with app.state.database.unit_of_work() as session:
        await identity.accounts.create_user(
            session,
            email="doc@example.com",
            password=PASSWORD,
            display_name="Doc",
            role="clinician",
        )
    return await access_token(client, "doc@example.com")


async def _invite(client: httpx.AsyncClient, clinician: str, email: str) -> str:
    response = await client.post(
        "/v1/invitations", json={"email": email}, headers=bearer(clinician)
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["invitation"]
    return token


async def _register(
    client: httpx.AsyncClient, email: str, invitation: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.post(
        "/v1/auth/register",
        json={
            "email": email,
            "password": password,
            "display_name": "Ada",
            "role": "client",
            "invitation": invitation,
        },
    )


async def _outbox(database: Database) -> list[tuple[bytes | None, Any]]:
    async with database.unit_of_work() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    return [
        (row.key, decode(row.key, row.value, [(k, v.encode()) for k, v in row.headers]).payload)
        for row in rows
    ]


async def _invitations(database: Database) -> list[Invitation]:
    async with database.unit_of_work() as session:
        return list((await session.exec(select(Invitation))).all())


async def test_registering_with_an_invitation_records_the_acceptance_and_queues_the_event(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    clinician = await _clinician(app, client)
    me = await client.get("/v1/users/me", headers=bearer(clinician))
    token = await _invite(client, clinician, "ada@example.com")

    response = await _register(client, "Ada@Example.com", token)

    assert response.status_code == 201, response.text
    client_id = response.json()["id"]
    [invitation] = await _invitations(database)
    assert str(invitation.accepted_by) == client_id
    assert invitation.accepted_at is not None
    events = await _outbox(database)
    [(key, accepted)] = [(k, p) for k, p in events if isinstance(p, InvitationAccepted)]
    assert accepted == InvitationAccepted(
        invitation_id=invitation.id,
        clinician_id=me.json()["id"],
        client_id=client_id,
        accepted_at=invitation.accepted_at,
    )
    # Keyed like the client's user.registered: one partition, in order.
    [registered_key] = [
        k for k, p in events if isinstance(p, UserRegistered) and str(p.user_id) == client_id
    ]
    assert key == registered_key == client_id.encode()
    listed = await client.get("/v1/invitations", headers=bearer(clinician))
    assert listed.json()[0]["user_id"] == client_id
    assert listed.json()[0]["status"] == "accepted"


async def test_a_refused_registration_accepts_nothing_and_queues_nothing(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    clinician = await _clinician(app, client)
    token = await _invite(client, clinician, "ada@example.com")

    weak = await _register(client, "ada@example.com", token, password="short")
    wrong_email = await _register(client, "eve@example.com", token)

    assert weak.status_code == 422, weak.text
    assert wrong_email.status_code == 403, wrong_email.text
    [invitation] = await _invitations(database)
    assert (invitation.accepted_at, invitation.accepted_by) == (None, None)
    assert not [p for _, p in await _outbox(database) if isinstance(p, InvitationAccepted)]


async def test_an_invitation_is_accepted_once(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    clinician = await _clinician(app, client)
    token = await _invite(client, clinician, "ada@example.com")
    assert (await _register(client, "ada@example.com", token)).status_code == 201

    again = await _register(client, "ada@example.com", token)

    assert again.status_code == 403, again.text
    assert len([p for _, p in await _outbox(database) if isinstance(p, InvitationAccepted)]) == 1
