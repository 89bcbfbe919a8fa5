"""``python -m services.records``: migrate brings a fresh database to the newest schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from services.records.__main__ import main


def test_migrate_creates_the_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    database = tmp_path / "nested" / "records.db"
    monkeypatch.setenv("RAPPORT_RECORDS_DATABASE_URL", f"sqlite+aiosqlite:///{database}")

    main(["migrate"])

    with sqlite3.connect(database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"appointments", "session_records", "audit_entries", "outbox", "inbox"} <= tables


def test_an_unknown_command_is_refused(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        main(["dance"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
