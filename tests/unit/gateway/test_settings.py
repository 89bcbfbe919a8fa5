"""The gateway's settings: defaults from the contract, and the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.settings import GatewaySettings


def test_defaults_follow_the_contract(no_env: None) -> None:
    settings = GatewaySettings()
    assert settings.port == 8000
    assert settings.identity_url == "http://127.0.0.1:8001"
    assert settings.records_url == "http://127.0.0.1:8002"
    assert settings.signaling_urls == ["http://127.0.0.1:8003"]
    assert settings.webhooks_url == "http://127.0.0.1:8004"
    # HSTS for a year, but only ever on responses served over TLS.
    assert settings.hsts_max_age_seconds == 31_536_000
    assert (settings.login_rate_per_minute, settings.login_burst) == (10.0, 10)
    assert (settings.principal_rate_per_minute, settings.principal_burst) == (1200.0, 200)
    # Nobody's X-Forwarded-* headers are believed, and no other origin gets CORS headers.
    assert settings.trusted_proxies == []
    assert settings.cors_allow_origins == []
    assert settings.cors_allow_credentials is False


def test_the_environment_configures_it(no_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPPORT_GATEWAY_PORT", "9000")
    monkeypatch.setenv("RAPPORT_GATEWAY_RECORDS_URL", "http://records:8002")
    monkeypatch.setenv("RAPPORT_GATEWAY_SIGNALING_URL", "http://sig-a:8003, http://sig-b:8003")
    monkeypatch.setenv("RAPPORT_GATEWAY_HSTS_MAX_AGE_SECONDS", "31536000")
    monkeypatch.setenv("RAPPORT_JWKS_URL", "http://identity:8001/.well-known/jwks.json")
    settings = GatewaySettings()
    assert settings.port == 9000
    assert settings.records_url == "http://records:8002"
    assert settings.signaling_urls == ["http://sig-a:8003", "http://sig-b:8003"]
    assert settings.hsts_max_age_seconds == 31536000
    assert settings.jwks_url == "http://identity:8001/.well-known/jwks.json"


def test_signaling_needs_an_address(no_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPPORT_GATEWAY_SIGNALING_URLS", " , ")
    monkeypatch.setenv("RAPPORT_GATEWAY_SIGNALING_OWNERS", "false")
    with pytest.raises(ValidationError, match="at least one signaling URL"):
        GatewaySettings()


def test_with_published_owners_no_signaling_list_is_needed(
    no_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAPPORT_GATEWAY_SIGNALING_URLS", " , ")
    assert GatewaySettings().signaling_urls == []


def test_cors_origins_come_comma_separated_and_normalised(
    no_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(
        "RAPPORT_GATEWAY_CORS_ALLOW_ORIGINS", "https://EHR.example.org, http://localhost:5173"
    )
    monkeypatch.setenv("RAPPORT_GATEWAY_CORS_ALLOW_CREDENTIALS", "true")
    settings = GatewaySettings()
    assert settings.cors_allow_origins == ["https://ehr.example.org", "http://localhost:5173"]
    assert settings.cors_allow_credentials is True


@pytest.mark.parametrize(
    "origin", ["https://ehr.example.org/", "https://ehr.example.org/app", "ftp://files", "ehr"]
)
def test_a_cors_origin_must_be_an_origin(no_env: None, origin: str) -> None:
    with pytest.raises(ValidationError, match="not an origin"):
        GatewaySettings(cors_allow_origins=[origin])


def test_credentials_are_never_allowed_for_every_origin(no_env: None) -> None:
    with pytest.raises(ValidationError, match="cannot be allowed for every origin"):
        GatewaySettings(cors_allow_origins=["*"], cors_allow_credentials=True)
    assert GatewaySettings(cors_allow_origins=["*"]).cors_allow_origins == ["*"]


@pytest.mark.parametrize(
    "values",
    [
        # uvicorn's websockets protocol drops a handshake unanswered after 10 s.
        {"websocket_handshake_seconds": 10.0},
        # The wait for a room's owner cannot outlast the handshake that waits for it.
        {"websocket_handshake_seconds": 8.0, "signaling_owner_wait_seconds": 9.0},
    ],
)
def test_a_handshake_is_answered_before_the_server_drops_it(
    no_env: None, values: dict[str, float]
) -> None:
    with pytest.raises(ValidationError, match="websocket_handshake_seconds"):
        GatewaySettings(**values)
