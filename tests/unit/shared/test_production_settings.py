"""Production settings refuse what would put credentials in the clear or rest on a public key:
``http://``/``ws://`` origins browsers use, and secrets equal to a development value anyone can
read in the source. Development and test accept both (local servers, public keys)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.settings import GatewaySettings
from services.identity.settings import DEVELOPMENT_SECRETS_KEY as IDENTITY_DEVELOPMENT_KEY
from services.identity.settings import IdentitySettings
from services.notifications.settings import NotificationsSettings
from services.signaling.settings import SignalingSettings
from services.webhooks.settings import DEVELOPMENT_SECRETS_KEY as WEBHOOKS_DEVELOPMENT_KEY
from services.webhooks.settings import WebhooksSettings
from shared.service_key import DEVELOPMENT_SERVICE_KEY
from shared.settings import ServiceSettings

REAL_KEY = base64.b64encode(bytes(range(32))).decode()
REFUSALS: list[tuple[type[ServiceSettings], dict[str, Any], str]] = [
    (IdentitySettings, {"public_url": "http://rapport.example.org"}, "RAPPORT_PUBLIC_URL"),
    (
        SignalingSettings,
        {"allowed_origins": ["https://rapport.example.org", "http://rapport.example.org"]},
        "RAPPORT_SIGNALING_ALLOWED_ORIGINS",
    ),
    (
        SignalingSettings,
        {"allowed_origins": ["ws://rapport.example.org"]},
        "RAPPORT_SIGNALING_ALLOWED_ORIGINS",
    ),
    (
        GatewaySettings,
        {"cors_allow_origins": ["http://ehr.example.org"]},
        "RAPPORT_GATEWAY_CORS_ALLOW_ORIGINS",
    ),
    (
        IdentitySettings,
        {"secrets_key": base64.b64encode(IDENTITY_DEVELOPMENT_KEY).decode()},
        "RAPPORT_IDENTITY_SECRETS_KEY",
    ),
    (
        IdentitySettings,
        {"secrets_key": REAL_KEY, "notifications_key": DEVELOPMENT_SERVICE_KEY},
        "RAPPORT_IDENTITY_NOTIFICATIONS_KEY",
    ),
    (
        NotificationsSettings,
        {"identity_key": DEVELOPMENT_SERVICE_KEY},
        "RAPPORT_NOTIFICATIONS_IDENTITY_KEY",
    ),
    (
        NotificationsSettings,
        {"unsubscribe_key": DEVELOPMENT_SERVICE_KEY},
        "RAPPORT_NOTIFICATIONS_UNSUBSCRIBE_KEY",
    ),
    (
        WebhooksSettings,
        {"secrets_key": base64.b64encode(WEBHOOKS_DEVELOPMENT_KEY).decode()},
        "RAPPORT_WEBHOOKS_SECRETS_KEY",
    ),
]


@pytest.fixture(autouse=True)
def _no_operator_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for variable in list(os.environ):
        if variable.startswith("RAPPORT_"):
            monkeypatch.delenv(variable)


@pytest.mark.parametrize(
    ("settings", "values", "variable"),
    REFUSALS,
    ids=[f"{v}-{i}" for i, (_, _, v) in enumerate(REFUSALS)],
)
def test_production_refuses(
    settings: type[ServiceSettings], values: dict[str, Any], variable: str
) -> None:
    with pytest.raises(ValidationError, match=variable):
        settings(environment="production", **values)
    # The same values are fine where they belong: development on one machine.
    settings(environment="development", **values)


def test_production_accepts_tls_origins_loopback_and_its_own_secrets() -> None:
    IdentitySettings(
        environment="production",
        public_url="https://rapport.example.org",
        secrets_key=REAL_KEY,
        notifications_key="k" * 40,
    )
    SignalingSettings(
        environment="production",
        allowed_origins=["https://rapport.example.org", "http://127.0.0.1:8000"],
    )
    GatewaySettings(environment="production", cors_allow_origins=["https://ehr.example.org"])
    # Loopback is a secure context for browsers and never leaves the machine (compose).
    IdentitySettings(environment="production", public_url="http://localhost:8000")
