"""The profile: display name and IANA time zone."""

from __future__ import annotations

import httpx
import pytest

from tests.unit.identity.factories import access_token, bearer, registered_user


async def test_time_zone_defaults_to_utc_and_can_be_set_at_sign_up(
    client: httpx.AsyncClient,
) -> None:
    plain = await registered_user(client, email="plain@example.com")
    assert plain["time_zone"] == "UTC"
    response = await client.post(
        "/v1/auth/register",
        json={
            "email": "paris@example.com",
            "password": "correct horse battery",
            "display_name": "Paris",
            "role": "client",
            "time_zone": "Europe/Paris",
        },
    )
    assert response.status_code == 201
    assert response.json()["time_zone"] == "Europe/Paris"


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../etc/passwd", "", "Europe/"])
async def test_unknown_time_zones_are_refused(client: httpx.AsyncClient, zone: str) -> None:
    await registered_user(client, email="tz@example.com")
    token = await access_token(client, "tz@example.com")
    response = await client.patch("/v1/users/me", json={"time_zone": zone}, headers=bearer(token))
    assert response.status_code == 422


async def test_the_profile_can_be_changed(client: httpx.AsyncClient) -> None:
    await registered_user(client, email="mover@example.com")
    token = await access_token(client, "mover@example.com")
    response = await client.patch(
        "/v1/users/me",
        json={"time_zone": "America/Sao_Paulo", "display_name": "  Moved  "},
        headers=bearer(token),
    )
    assert response.status_code == 200
    assert response.json()["time_zone"] == "America/Sao_Paulo"
    assert response.json()["display_name"] == "Moved"
    me = await client.get("/v1/users/me", headers=bearer(token))
    assert me.json()["time_zone"] == "America/Sao_Paulo"
