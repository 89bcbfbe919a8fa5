"""The throwaway PostgreSQL server and its fixtures work end to end."""

from __future__ import annotations

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from devservers.postgres.launcher import DatabaseAdmin

metadata = sa.MetaData()
notes = sa.Table(
    "notes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("body", sa.Text, nullable=False),
)


@pytest.mark.integration
async def test_write_read_and_rollback(fresh_database: str) -> None:
    engine = create_async_engine(fresh_database)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

        # Committed write is visible to a new connection.
        async with engine.begin() as conn:
            await conn.execute(sa.insert(notes).values(id=1, body="kept"))
        async with engine.connect() as conn:
            rows = (await conn.execute(sa.select(notes.c.id, notes.c.body))).all()
        assert [tuple(r) for r in rows] == [(1, "kept")]

        # Rolled-back write: visible inside its transaction, gone afterwards.
        async with engine.connect() as conn:
            tx = await conn.begin()
            await conn.execute(sa.insert(notes).values(id=2, body="discarded"))
            inside = await conn.scalar(sa.select(sa.func.count()).select_from(notes))
            assert inside == 2
            await tx.rollback()
        async with engine.connect() as conn:
            ids = (await conn.execute(sa.select(notes.c.id).order_by(notes.c.id))).scalars().all()
        assert ids == [1]
    finally:
        await engine.dispose()


@pytest.mark.integration
async def test_fresh_database_is_empty_and_utf8(fresh_database: str) -> None:
    engine = create_async_engine(fresh_database)
    try:
        async with engine.connect() as conn:
            tables = await conn.scalar(
                sa.text(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
                )
            )
            encoding = await conn.scalar(sa.text("SHOW server_encoding"))
        assert tables == 0
        assert encoding == "UTF8"
    finally:
        await engine.dispose()


@pytest.mark.integration
def test_create_database_is_idempotent_and_drop_forces(postgres_server: DatabaseAdmin) -> None:
    name = "t_launcher_idempotent"
    postgres_server.create_database(name)
    try:
        url = postgres_server.async_url(name)
        assert url.startswith("postgresql+asyncpg://") and url.endswith(f"/{name}")
        # Re-creating drops and recreates instead of failing with "already exists".
        postgres_server.create_database(name)
    finally:
        postgres_server.drop_database(name)
    postgres_server.drop_database(name)  # dropping a missing database is not an error


@pytest.mark.integration
async def test_drop_disconnects_open_sessions(postgres_server: DatabaseAdmin) -> None:
    name = "t_launcher_force_drop"
    postgres_server.create_database(name)
    dsn = postgres_server.async_url(name).replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        # An open session would make a plain DROP DATABASE fail.
        postgres_server.drop_database(name)
    finally:
        await conn.close()


@pytest.mark.integration
def test_rejects_unsafe_database_names(postgres_server: DatabaseAdmin) -> None:
    with pytest.raises(ValueError):
        postgres_server.async_url('x"; DROP DATABASE postgres; --')
