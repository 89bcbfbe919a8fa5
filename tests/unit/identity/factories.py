"""Building accounts and tokens through identity's own HTTP API."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import jwt
from fastapi import FastAPI

from services.identity.app import Identity


async def register(
    client: httpx.AsyncClient,
    *,
    email: str | None = None,
    password: str = "correct horse battery",
    display_name: str = "Ada Client",
    role: str = "client",
) -> httpx.Response:
    return await client.post(
        "/v1/auth/register",
        json={
            "email": email or f"user-{uuid.uuid4().hex[:8]}@example.com",
            "password": password,
            "display_name": display_name,
            "role": role,
        },
    )


async def registered_user(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await register(client, **fields)
    assert response.status_code == 201, response.text
    user: dict[str, Any] = response.json()
    return user


async def login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/v1/auth/login", json={"email": email, "password": password})


async def access_token(
    client: httpx.AsyncClient, email: str, password: str = "correct horse battery"
) -> str:
    response = await login(client, email, password)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def admin_token(app: FastAPI, client: httpx.AsyncClient) -> str:
    """An access token of a new admin (admins come from the CLI, not from registration)."""
    identity: Identity = app.state.identity
    async with app.state.database.unit_of_work() as session:
        await identity.accounts.create_user(
            session,
            email="ops@example.com",
            password="correct horse battery",
            display_name="Ops",
            role="admin",
        )
    return await access_token(client, "ops@example.com")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def served_keys(client: httpx.AsyncClient) -> dict[str, jwt.PyJWK]:
    """What a JwksKeySource in another service would hold after fetching identity's JWKS."""
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200, response.text
    keyset = jwt.PyJWKSet.from_dict(response.json())
    return {key.key_id: key for key in keyset.keys if key.key_id}


def unverified_parts(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return header, claims


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def with_claims(token: str, **changes: Any) -> str:
    """The token with its payload edited and its original signature kept."""
    header, payload, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    return ".".join([header, _b64({**claims, **changes}), signature])


def with_header(token: str, **changes: Any) -> str:
    """The token with its header edited and its original signature kept."""
    _, payload, signature = token.split(".")
    header = jwt.get_unverified_header(token)
    return ".".join([_b64({**header, **changes}), payload, signature])
