"""The command line: migrate, protocol-docs, and the settings it runs with."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pydantic import ValidationError

from services.signaling.__main__ import COMMANDS, main
from services.signaling.settings import SignalingSettings


def test_migrate_creates_the_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "var" / "signaling.db"
    monkeypatch.setenv("RAPPORT_SIGNALING_DATABASE_URL", f"sqlite+aiosqlite:///{database}")
    assert main(["migrate"]) == 0
    tables = {row[0] for row in sqlite3.connect(database).execute("SELECT name FROM sqlite_master")}
    assert {"session_access", "outbox", "inbox", "alembic_version"} <= tables


def test_protocol_docs_check_passes_on_the_committed_docs() -> None:
    assert main(["protocol-docs", "--check"]) == 0


def test_the_commands() -> None:
    parser = COMMANDS.parser
    for command in ["serve", "migrate", "protocol-docs"]:
        assert parser.parse_args([command]).command == command
    with pytest.raises(SystemExit):
        parser.parse_args(["dance"])


def test_settings_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = SignalingSettings()
    assert defaults.port == 8003
    assert defaults.database_url == "sqlite+aiosqlite:///./var/signaling.db"
    assert defaults.max_message_bytes == 65_536
    assert defaults.join_timeout_seconds == 10
    monkeypatch.setenv("RAPPORT_SIGNALING_JOIN_TIMEOUT_SECONDS", "3")
    monkeypatch.setenv("RAPPORT_KAFKA_BOOTSTRAP", "kafka:9092")
    configured = SignalingSettings()
    assert configured.join_timeout_seconds == 3
    assert configured.kafka_bootstrap == "kafka:9092"
    with pytest.raises(ValidationError):
        SignalingSettings(max_message_bytes=2_000_000)  # above the transport's frame limit
