"""Partner apps: registration by an admin, the client-credentials grant (RFC 6749 section
4.4, with its request and error formats), scopes, grants by clinicians, secret rotation."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlmodel import select

from services.identity.app import Identity
from services.identity.models import PartnerApp
from services.identity.tokens import hash_opaque_token
from shared.db import Database
from shared.errors import Forbidden
from shared.tokens import StaticKeySource, TokenVerifier
from tests.unit.identity.factories import access_token, bearer, registered_user, served_keys

PASSWORD = "correct horse battery"
FORM = {"content-type": "application/x-www-form-urlencoded"}


async def _admin(app: FastAPI, client: httpx.AsyncClient) -> str:
    identity: Identity = app.state.identity
    async with app.state.database.unit_of_work() as session:
        await identity.accounts.create_user(
            session, email="ops@example.com", password=PASSWORD, display_name="Ops", role="admin"
        )
    return await access_token(client, "ops@example.com")


async def _partner(app: FastAPI, client: httpx.AsyncClient, scopes: list[str]) -> dict[str, Any]:
    admin = await _admin(app, client)
    response = await client.post(
        "/v1/partner-apps", json={"name": "Acme EHR", "scopes": scopes}, headers=bearer(admin)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    body["admin"] = admin
    return body


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {**FORM, "authorization": f"Basic {raw}"}


async def _token(
    client: httpx.AsyncClient, partner: dict[str, Any], body: str = "grant_type=client_credentials"
) -> httpx.Response:
    return await client.post(
        "/oauth/token",
        content=body,
        headers=_basic(partner["client_id"], partner["client_secret"]),
    )


async def test_the_secret_is_shown_once_and_stored_hashed(
    app: FastAPI, client: httpx.AsyncClient, database: Database
) -> None:
    partner = await _partner(app, client, ["appointments:read"])
    assert partner["client_id"].startswith("pa_")
    async with database.unit_of_work() as session:
        stored = (await session.exec(select(PartnerApp))).one()
    assert stored.secret_hash == hash_opaque_token(partner["client_secret"])
    assert partner["client_secret"] not in stored.secret_hash


async def test_client_credentials_issue_a_scoped_partner_token(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    partner = await _partner(app, client, ["appointments:read", "sessions:read"])
    response = await _token(client, partner, "grant_type=client_credentials&scope=sessions:read")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "sessions:read"
    assert 0 < body["expires_in"] <= 900

    verifier = TokenVerifier(
        StaticKeySource(await served_keys(client)), issuer="rapport-identity", audience="rapport"
    )
    principal = await verifier.verify(body["access_token"])
    assert principal.role == "partner"
    assert principal.subject == partner["client_id"]
    assert principal.scopes == frozenset({"sessions:read"})
    # A partner token never passes for a user.
    with pytest.raises(Forbidden):
        _ = principal.user_id
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "EdDSA" and header["kid"]


async def test_client_secret_post_works_too(app: FastAPI, client: httpx.AsyncClient) -> None:
    partner = await _partner(app, client, ["goals:read"])
    response = await client.post(
        "/oauth/token",
        content=(
            f"grant_type=client_credentials&client_id={partner['client_id']}"
            f"&client_secret={partner['client_secret']}"
        ),
        headers=FORM,
    )
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "goals:read"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("grant_type=password", 400, "unsupported_grant_type"),
        ("scope=goals:read", 400, "invalid_request"),
        ("grant_type=client_credentials&scope=webhooks:manage", 400, "invalid_scope"),
        ("grant_type=client_credentials&grant_type=client_credentials", 400, "invalid_request"),
    ],
)
async def test_token_errors_follow_rfc_6749_section_5_2(
    app: FastAPI, client: httpx.AsyncClient, body: str, status: int, error: str
) -> None:
    partner = await _partner(app, client, ["goals:read"])
    response = await _token(client, partner, body)
    assert response.status_code == status
    assert response.json()["error"] == error
    assert set(response.json()) == {"error", "error_description"}
    assert response.headers["cache-control"] == "no-store"


async def test_a_wrong_secret_is_invalid_client(app: FastAPI, client: httpx.AsyncClient) -> None:
    partner = await _partner(app, client, ["goals:read"])
    response = await client.post(
        "/oauth/token",
        content="grant_type=client_credentials",
        headers=_basic(partner["client_id"], "not-the-secret"),
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")
    unknown = await client.post(
        "/oauth/token",
        content="grant_type=client_credentials",
        headers=_basic("pa_nobody", "x"),
    )
    assert unknown.json() == response.json()


async def test_json_bodies_are_refused(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.post("/oauth/token", json={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


async def test_rotating_the_secret_retires_the_old_one(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    partner = await _partner(app, client, ["goals:read"])
    rotated = await client.post(
        f"/v1/partner-apps/{partner['client_id']}/secret", headers=bearer(partner["admin"])
    )
    assert rotated.status_code == 200
    new_secret = rotated.json()["client_secret"]
    assert new_secret != partner["client_secret"]
    assert (await _token(client, partner)).status_code == 401
    assert (await _token(client, {**partner, "client_secret": new_secret})).status_code == 200


async def test_only_admins_register_partners(client: httpx.AsyncClient) -> None:
    await registered_user(client, email="clin@example.com", role="clinician")
    token = await access_token(client, "clin@example.com")
    response = await client.post(
        "/v1/partner-apps", json={"name": "Sneaky", "scopes": ["goals:read"]}, headers=bearer(token)
    )
    assert response.status_code == 403


async def test_unknown_scopes_cannot_be_registered(app: FastAPI, client: httpx.AsyncClient) -> None:
    admin = await _admin(app, client)
    response = await client.post(
        "/v1/partner-apps", json={"name": "Greedy", "scopes": ["admin:all"]}, headers=bearer(admin)
    )
    assert response.status_code == 422
    assert response.json()["error"] == "UnknownScope"
    assert "fhir:read" in response.json()["detail"]  # the choices are named


async def test_an_app_may_hold_fhir_read_alone(app: FastAPI, client: httpx.AsyncClient) -> None:
    """The FHIR export's own scope: records asks for it instead of the three read scopes."""
    partner = await _partner(app, client, ["fhir:read"])
    response = await _token(client, partner)
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == "fhir:read"
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["scope"] == "fhir:read" and claims["role"] == "partner"


async def test_the_token_names_only_the_clinicians_who_granted_access(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    partner = await _partner(app, client, ["appointments:read"])
    granting = await registered_user(client, email="yes@example.com", role="clinician")
    await registered_user(client, email="no@example.com", role="clinician")
    yes_token = await access_token(client, "yes@example.com")
    granted = await client.put(
        f"/v1/partner-apps/{partner['client_id']}/grants/me", headers=bearer(yes_token)
    )
    assert granted.status_code == 204
    token = (await _token(client, partner)).json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["clinicians"] == [granting["id"]]


async def test_a_grant_is_published_for_the_services_that_limit_partners(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    from shared.events.outbox import OutboxMessage

    partner = await _partner(app, client, ["appointments:read"])
    granting = await registered_user(client, email="grants@example.com", role="clinician")
    token = await access_token(client, "grants@example.com")
    granted = await client.put(
        f"/v1/partner-apps/{partner['client_id']}/grants/me", headers=bearer(token)
    )
    assert granted.status_code == 204
    database: Database = app.state.database
    async with database.unit_of_work() as session:
        rows = (await session.exec(select(OutboxMessage))).all()
    grants = [r for r in rows if r.event_type == "rapport.identity.partner.access_granted.v1"]
    assert len(grants) == 1
    assert grants[0].key == partner["client_id"].encode()
    assert granting["id"].encode() in grants[0].value
