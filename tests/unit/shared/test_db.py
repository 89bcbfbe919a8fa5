"""SQLite under concurrent writers: they queue for the write lock instead of failing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.db import Database


async def _sql(session: AsyncSession, statement: str, **params: object) -> sa.Result:
    return await (await session.connection()).execute(sa.text(statement), params)


async def _database(tmp_path: Path) -> Database:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    async with database.unit_of_work() as session:
        await _sql(session, "CREATE TABLE rows (id INTEGER PRIMARY KEY, v TEXT)")
    return database


async def test_a_writer_waits_out_a_long_write_instead_of_failing(tmp_path: Path):
    database = await _database(tmp_path)
    holding = asyncio.Event()
    try:

        async def long_write() -> None:
            async with database.unit_of_work() as session:
                await _sql(session, "INSERT INTO rows (v) VALUES ('long')")
                holding.set()
                # Longer than the 5 s SQLite writers used to wait before "database is locked".
                await asyncio.sleep(6)

        async def read_then_write() -> None:
            await holding.wait()
            async with database.unit_of_work() as session:
                await _sql(session, "SELECT count(*) FROM rows")
                await _sql(session, "INSERT INTO rows (v) VALUES ('short')")

        await asyncio.wait_for(asyncio.gather(long_write(), read_then_write()), timeout=60)
        async with database.unit_of_work() as session:
            values = (await _sql(session, "SELECT v FROM rows ORDER BY id")).all()
        assert [v for (v,) in values] == ["long", "short"]
    finally:
        await database.dispose()


async def test_a_storm_of_read_then_write_units_all_commit(tmp_path: Path):
    database = await _database(tmp_path)
    try:

        async def unit(n: int) -> None:
            async with database.unit_of_work() as session:
                await _sql(session, "SELECT count(*) FROM rows")
                await _sql(session, "INSERT INTO rows (v) VALUES (:v)", v=str(n))

        await asyncio.wait_for(asyncio.gather(*(unit(n) for n in range(500))), timeout=120)
        async with database.unit_of_work() as session:
            count = (await _sql(session, "SELECT count(*) FROM rows")).scalar_one()
        assert count == 500
    finally:
        await database.dispose()
