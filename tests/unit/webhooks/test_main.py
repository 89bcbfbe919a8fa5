"""The command line: migrate brings a fresh database to the latest revision."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from services.webhooks.__main__ import main


def test_migrate_creates_the_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    database = tmp_path / "var" / "webhooks.db"
    monkeypatch.setenv("RAPPORT_WEBHOOKS_DATABASE_URL", f"sqlite+aiosqlite:///{database}")

    main(["migrate"])

    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"webhook_endpoints", "deliveries", "delivery_attempts", "outbox", "inbox"} <= tables


def test_an_unknown_command_is_refused() -> None:
    with pytest.raises(SystemExit):
        main(["replay-everything"])
