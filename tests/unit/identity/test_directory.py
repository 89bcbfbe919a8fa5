"""The directory: a person sees themselves, an admin everyone, a clinician the clients who
joined through their invitations (without emails); nobody else sees anyone."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select

from services.identity.app import Identity
from services.identity.models import DirectoryAuditEntry, Invitation
from shared import audit_log
from shared.db import Database, utc_now
from tests.unit.identity.factories import access_token, bearer, registered_user

PASSWORD = "correct horse battery"


@dataclass
class Practice:
    admin: str
    clinician: str
    clinician_id: str
    other_clinician: str
    other_clinician_id: str
    invited: dict[str, Any]
    invited_token: str
    uninvited: dict[str, Any]
    others_client: dict[str, Any]


async def _invite(client: httpx.AsyncClient, clinician: str, email: str) -> str:
    response = await client.post(
        "/v1/invitations", json={"email": email}, headers=bearer(clinician)
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["invitation"]
    return token


async def _join(client: httpx.AsyncClient, email: str, invitation: str, name: str) -> Any:
    response = await client.post(
        "/v1/auth/register",
        json={
            "email": email,
            "password": PASSWORD,
            "display_name": name,
            "role": "client",
            "time_zone": "Europe/Paris",
            "invitation": invitation,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def practice(app: FastAPI, client: httpx.AsyncClient) -> Practice:
    identity: Identity = app.state.identity
    async with app.state.database.unit_of_work() as session:
        await identity.accounts.create_user(
            session, email="ops@example.com", password=PASSWORD, display_name="Ops", role="admin"
        )
    doc = await registered_user(client, email="doc@example.com", role="clinician")
    other = await registered_user(client, email="other@example.com", role="clinician")
    clinician = await access_token(client, "doc@example.com")
    other_clinician = await access_token(client, "other@example.com")
    invited = await _join(
        client, "ada@example.com", await _invite(client, clinician, "ada@example.com"), "Ada"
    )
    others_client = await _join(
        client,
        "bob@example.com",
        await _invite(client, other_clinician, "bob@example.com"),
        "Bob",
    )
    await _invite(client, clinician, "pending@example.com")
    uninvited = await registered_user(client, email="walkin@example.com", role="client")
    return Practice(
        admin=await access_token(client, "ops@example.com"),
        clinician=clinician,
        clinician_id=doc["id"],
        other_clinician=other_clinician,
        other_clinician_id=other["id"],
        invited=invited,
        invited_token=await access_token(client, "ada@example.com"),
        uninvited=uninvited,
        others_client=others_client,
    )


async def test_a_clinician_sees_an_invited_client_without_the_email(
    client: httpx.AsyncClient, practice: Practice
) -> None:
    response = await client.get(
        f"/v1/users/{practice.invited['id']}", headers=bearer(practice.clinician)
    )

    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": practice.invited["id"],
        "display_name": "Ada",
        "time_zone": "Europe/Paris",
        "role": "client",
        "email": None,
    }


async def test_a_clinician_cannot_look_up_anyone_else(
    client: httpx.AsyncClient, practice: Practice
) -> None:
    for someone in (
        practice.uninvited["id"],
        practice.others_client["id"],
        practice.other_clinician_id,
        str(uuid.uuid4()),
    ):
        response = await client.get(f"/v1/users/{someone}", headers=bearer(practice.clinician))
        # Not theirs looks exactly like nobody: the directory does not confirm accounts.
        assert response.status_code == 404, someone
        assert response.json()["error"] == "UserNotFound"


async def test_a_person_sees_themselves_with_the_email(
    client: httpx.AsyncClient, practice: Practice
) -> None:
    own = await client.get(
        f"/v1/users/{practice.invited['id']}", headers=bearer(practice.invited_token)
    )

    assert own.status_code == 200
    assert own.json()["email"] == "ada@example.com"


async def test_a_client_sees_the_clinician_who_invited_them_without_the_email(
    client: httpx.AsyncClient, practice: Practice
) -> None:
    response = await client.get(
        f"/v1/users/{practice.clinician_id}", headers=bearer(practice.invited_token)
    )

    by_admin = await client.get(
        f"/v1/users/{practice.clinician_id}", headers=bearer(practice.admin)
    )

    assert response.status_code == 200, response.text
    assert by_admin.json()["email"] == "doc@example.com"
    assert response.json() == {**by_admin.json(), "email": None}
    assert response.json()["role"] == "clinician"


async def test_a_client_sees_nobody_else(client: httpx.AsyncClient, practice: Practice) -> None:
    walk_in = await access_token(client, "walkin@example.com")
    for token, someone in (
        (practice.invited_token, practice.other_clinician_id),
        (practice.invited_token, practice.others_client["id"]),
        (practice.invited_token, practice.uninvited["id"]),
        (practice.invited_token, str(uuid.uuid4())),
        # A client who did not accept the clinician's invitation does not see them.
        (walk_in, practice.clinician_id),
    ):
        response = await client.get(f"/v1/users/{someone}", headers=bearer(token))
        # The same answer whether the id exists or not.
        assert response.status_code == 403, someone
        assert response.json()["error"] == "Forbidden"


async def test_an_admin_sees_everyone_with_emails(
    client: httpx.AsyncClient, practice: Practice
) -> None:
    found = await client.get(
        f"/v1/users/{practice.uninvited['id']}", headers=bearer(practice.admin)
    )
    missing = await client.get(f"/v1/users/{uuid.uuid4()}", headers=bearer(practice.admin))
    clinicians = await client.get("/v1/users?role=clinician", headers=bearer(practice.admin))

    assert found.status_code == 200
    assert found.json()["email"] == "walkin@example.com"
    assert missing.status_code == 404
    assert sorted(u["email"] for u in clinicians.json()) == [
        "doc@example.com",
        "other@example.com",
    ]


async def test_a_clinician_lists_the_clients_who_accepted_their_invitations(
    client: httpx.AsyncClient, practice: Practice
) -> None:
    mine = await client.get("/v1/users?role=client", headers=bearer(practice.clinician))
    theirs = await client.get("/v1/users", headers=bearer(practice.other_clinician))

    assert mine.status_code == 200, mine.text
    assert mine.json() == [
        {
            "id": practice.invited["id"],
            "display_name": "Ada",
            "time_zone": "Europe/Paris",
            "role": "client",
            "email": None,
        }
    ]
    assert [u["id"] for u in theirs.json()] == [practice.others_client["id"]]


async def test_only_clinicians_and_admins_list_and_clinicians_only_clients(
    client: httpx.AsyncClient, practice: Practice
) -> None:
    by_client = await client.get("/v1/users?role=client", headers=bearer(practice.invited_token))
    other_role = await client.get("/v1/users?role=clinician", headers=bearer(practice.clinician))

    assert by_client.status_code == 403
    assert other_role.status_code == 403


async def test_a_clinician_lists_their_invitations_with_their_status(
    app: FastAPI, client: httpx.AsyncClient, practice: Practice, database: Database
) -> None:
    await _invite(client, practice.clinician, "late@example.com")
    async with database.unit_of_work() as session:
        late = (
            await session.exec(select(Invitation).where(Invitation.email == "late@example.com"))
        ).one()
        late.expires_at = utc_now() - timedelta(minutes=1)
        session.add(late)

    response = await client.get("/v1/invitations", headers=bearer(practice.clinician))
    by_client = await client.get("/v1/invitations", headers=bearer(practice.invited_token))

    assert response.status_code == 200, response.text
    listed = {i["email"]: i for i in response.json()}
    assert {email: i["status"] for email, i in listed.items()} == {
        "ada@example.com": "accepted",
        "pending@example.com": "pending",
        "late@example.com": "expired",
    }
    assert listed["ada@example.com"]["user_id"] == practice.invited["id"]
    assert listed["ada@example.com"]["accepted_at"] is not None
    assert listed["pending@example.com"]["user_id"] is None
    assert "invitation" not in listed["pending@example.com"]  # the token is never shown again
    assert by_client.status_code == 403


# The directory's reads (names, emails) are audited in a sealed, verifiable chain.


async def _entries(app: FastAPI) -> list[DirectoryAuditEntry]:
    await app.state.audit_sealer.seal()
    async with app.state.database.unit_of_work() as session:
        query = select(DirectoryAuditEntry).order_by(col(DirectoryAuditEntry.id))
        return list((await session.exec(query)).all())


async def test_every_directory_read_is_audited_and_the_chain_verifies(
    app: FastAPI, client: httpx.AsyncClient, practice: Practice
) -> None:
    before = len(await _entries(app))
    ada = practice.invited["id"]

    one = await client.get(f"/v1/users/{ada}", headers=bearer(practice.clinician))
    mine = await client.get("/v1/users?role=client", headers=bearer(practice.clinician))
    everyone = await client.get("/v1/users", headers=bearer(practice.admin))
    mine_clinician = await client.get(
        f"/v1/users/{practice.clinician_id}", headers=bearer(practice.invited_token)
    )

    assert [r.status_code for r in (one, mine, everyone, mine_clinician)] == [200] * 4
    entries = (await _entries(app))[before:]
    seen = [(e.actor_role, e.action, e.resource_type, e.resource_id) for e in entries]
    shown_to_admin = [("admin", "read", "user", u["id"]) for u in everyone.json()]
    assert seen == [
        ("clinician", "read", "user", ada),
        *[("clinician", "read", "user", u["id"]) for u in mine.json()],
        *shown_to_admin,
        ("client", "read", "user", practice.clinician_id),
    ]
    assert entries[0].actor_id == uuid.UUID(practice.clinician_id)
    assert all(e.entry_hash for e in entries)
    async with app.state.database.unit_of_work() as session:
        verification = await audit_log.verify_log(session, DirectoryAuditEntry)
    assert verification.ok, verification.problems
    assert verification.unsealed == 0


async def test_a_refused_lookup_is_not_a_read_and_the_log_is_append_only(
    app: FastAPI, client: httpx.AsyncClient, practice: Practice
) -> None:
    before = len(await _entries(app))
    refused = await client.get(
        f"/v1/users/{practice.others_client['id']}", headers=bearer(practice.clinician)
    )
    assert refused.status_code == 404
    assert len(await _entries(app)) == before
    await client.get("/v1/users", headers=bearer(practice.admin))
    target = (await _entries(app))[-1]

    for statement in (
        f"UPDATE directory_audit_entries SET resource_id = 'x' WHERE id = {target.id}",
        f"DELETE FROM directory_audit_entries WHERE id = {target.id}",
    ):
        try:
            async with app.state.database.unit_of_work() as session:
                await session.exec(sa.text(statement))  # type: ignore[call-overload]
        except DBAPIError as refusal:
            assert "append-only" in str(refusal)
        else:
            raise AssertionError(f"the database allowed: {statement}")
