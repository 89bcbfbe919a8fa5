"""Records settings: its own prefix and defaults, deployment-wide values un-prefixed."""

from __future__ import annotations

import pytest

from services.records.settings import RecordsSettings


def test_defaults_follow_the_contract(monkeypatch: pytest.MonkeyPatch):
    for name in ("RAPPORT_RECORDS_PORT", "RAPPORT_RECORDS_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = RecordsSettings()
    assert settings.port == 8002
    assert settings.database_url == "sqlite+aiosqlite:///./var/records.db"


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAPPORT_RECORDS_PORT", "9102")
    monkeypatch.setenv("RAPPORT_RECORDS_DATABASE_URL", "sqlite+aiosqlite:///./elsewhere.db")
    monkeypatch.setenv("RAPPORT_KAFKA_BOOTSTRAP", "broker:9092")
    settings = RecordsSettings()
    assert settings.port == 9102
    assert settings.database_url == "sqlite+aiosqlite:///./elsewhere.db"
    assert settings.kafka_bootstrap == "broker:9092"
