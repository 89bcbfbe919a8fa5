"""ICE servers and coturn TURN REST API credentials."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.signaling.ice_servers import IceServerDirectory, turn_credential
from services.signaling.settings import SignalingSettings
from tests.unit.signaling.conftest import StartSignaling

USER = uuid.UUID(int=2)
# 1764100000 - 3600 seconds: an hour before the credential's expiry.
NOW = datetime(2025, 11, 25, 18, 46, 40, tzinfo=UTC)


def test_the_credential_is_base64_of_hmac_sha1_as_coturn_computes_it() -> None:
    # Expected value from `openssl dgst -sha1 -hmac coturn-shared-secret -binary | base64`.
    username = "1764100000:00000000-0000-0000-0000-000000000002"
    assert turn_credential("coturn-shared-secret", username) == "zUo5QS09FI4K0aWkNQ/GhxbWoik="


def test_turn_servers_get_a_username_that_expires() -> None:
    directory = IceServerDirectory(
        stun_urls=("stun:stun.example.com:3478",),
        turn_urls=("turn:turn.example.com:3478?transport=udp",),
        turn_secret="coturn-shared-secret",
        credential_lifetime=timedelta(hours=1),
    )
    servers = directory.for_user(USER, NOW)
    stun, turn = servers.ice_servers
    assert stun.urls == ["stun:stun.example.com:3478"] and stun.username is None
    assert turn.username == f"1764100000:{USER}"
    assert turn.credential == "zUo5QS09FI4K0aWkNQ/GhxbWoik="
    assert servers.expires_at == NOW + timedelta(hours=1)
    assert "username" not in stun.model_dump()


def test_none_are_configured_by_default() -> None:
    assert IceServerDirectory().for_user(USER, NOW).ice_servers == []
    settings = SignalingSettings(environment="test")
    assert settings.stun_urls == [] and settings.turn_urls == [] and settings.turn_secret is None


def test_turn_without_a_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        IceServerDirectory(turn_urls=("turn:turn.example.com",))
    with pytest.raises(ValueError):
        SignalingSettings(environment="test", turn_urls=["turn:turn.example.com"])


async def test_a_participant_asks_over_the_socket_and_over_http(
    start_signaling: StartSignaling,
) -> None:
    signaling = await start_signaling(
        turn_urls=["turn:turn.example.com:3478"], turn_secret="s3cret"
    )
    clinician_id, client_id = uuid.uuid4(), uuid.uuid4()
    session_id = await signaling.schedule(clinician_id, client_id)
    client, _ = await signaling.join(client_id, "client", session_id)  # waiting is enough
    await client.send({"type": "get-ice-servers"})
    answer = await client.expect("ice-servers")
    [turn] = answer["ice_servers"]
    expiry, user = turn["username"].split(":", 1)
    assert user == str(client_id)
    assert turn["credential"] == turn_credential("s3cret", turn["username"])
    assert int(expiry) == int(datetime.fromisoformat(answer["expires_at"]).timestamp())

    base = signaling.url.replace("ws://", "http://").removesuffix("/v1/signal")
    token = signaling.issuer.signaling(client_id, "client", session_id)
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.get("/v1/ice-servers", headers={"authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        assert response.json()["ice_servers"][0]["username"].endswith(f":{client_id}")
        unauthorized = await http.get("/v1/ice-servers")
        assert unauthorized.status_code == 401
