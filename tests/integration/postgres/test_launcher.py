"""The launcher's own server (for `python -m devservers.postgres.launcher run` and the benches)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import asyncpg
import pytest

from devservers.postgres.launcher import PostgresServer


async def _select_one(server: PostgresServer, database: str) -> int:
    dsn = server.async_url(database).replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn, ssl=False)
    try:
        return int(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()


@pytest.mark.integration
async def test_throwaway_server_serves_and_leaves_nothing_behind() -> None:
    server = PostgresServer()
    server.start()
    data_dir = server.data_dir
    try:
        assert server.is_running()
        server.create_database("launcher_check")
        assert await _select_one(server, "launcher_check") == 1
    finally:
        server.stop()
    assert not server.is_running()
    assert not data_dir.exists()


@pytest.mark.integration
async def test_a_given_data_dir_is_kept_and_reused() -> None:
    with tempfile.TemporaryDirectory(prefix="rapport-pg-test-", dir="/tmp") as parent:
        data_dir = Path(parent) / "data"
        first = PostgresServer(data_dir=data_dir)
        first.start()
        try:
            first.create_database("kept")
        finally:
            first.stop()
        assert (data_dir / "PG_VERSION").exists()

        again = PostgresServer(data_dir=data_dir)
        again.start()
        try:
            # The database made by the first server is still there: the cluster was reused.
            assert await _select_one(again, "kept") == 1
        finally:
            again.stop()
