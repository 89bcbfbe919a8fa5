"""Settings come from RAPPORT_WEBHOOKS_* (and the deployment-wide RAPPORT_*) variables."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.webhooks.settings import DEFAULT_RETRY_SCHEDULE_SECONDS, WebhooksSettings


def test_defaults_match_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RAPPORT_WEBHOOKS_ALLOW_PRIVATE_URLS", "RAPPORT_WEBHOOKS_PORT"):
        monkeypatch.delenv(name, raising=False)

    settings = WebhooksSettings()

    assert settings.port == 8004
    assert settings.database_url == "sqlite+aiosqlite:///./var/webhooks.db"
    assert settings.allow_private_urls is False
    assert settings.delivery_timeout_seconds == 15.0
    assert settings.retry_schedule_seconds == DEFAULT_RETRY_SCHEDULE_SECONDS
    assert settings.dispatcher_poll_seconds == 1.0


def test_the_environment_overrides_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAPPORT_WEBHOOKS_ALLOW_PRIVATE_URLS", "true")
    monkeypatch.setenv("RAPPORT_WEBHOOKS_RETRY_SCHEDULE_SECONDS", "[1, 2.5]")
    monkeypatch.setenv("RAPPORT_KAFKA_BOOTSTRAP", "broker:9092")

    settings = WebhooksSettings()

    assert settings.allow_private_urls is True
    assert settings.retry_schedule_seconds == [1, 2.5]
    assert settings.kafka_bootstrap == "broker:9092"


def test_negative_retry_delays_are_refused() -> None:
    with pytest.raises(ValidationError, match="zero or positive"):
        WebhooksSettings(retry_schedule_seconds=[5, -1])
