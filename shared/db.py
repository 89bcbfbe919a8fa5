"""The database a service owns: one async engine, and a unit of work per request or message.

Services never commit. The boundary that opened the unit of work (an HTTP request, a consumed
event batch, a relay cycle) commits it, so the state change and its outbox rows land together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, TypeDecorator, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on PostgreSQL and SQLite alike.

    SQLite has no time zones and hands back naive values; asyncpg refuses naive values for
    ``timestamptz``. Every table uses this type so neither surprise reaches the code.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (what every timestamp column stores)."""
    return datetime.now(UTC)


# SQLite takes one writer at a time. Units of work queue first for one of the pool's
# connections, first come first served and without a deadline (the pool's queue is the
# in-process write queue: a storm is slow, never refused), then, on a connection, in
# SQLite's busy handler for up to SQLITE_LOCK_WAIT_SECONDS (other connections and processes
# hold the lock only for one unit of work each). Measured with bench/bench_sqlite_writers.py,
# 5,000 concurrent read-then-write units of work: with the old 5 s busy timeout and the
# pool's 30 s, 1,898 failed ("database is locked", pool timeouts); with 60 s for both none
# did, the slowest waiting 30-40 s; a real join storm (bench/bench_signaling_idle.py, 5,000
# joins in flight) still ran past a 60 s pool deadline here, hence none. Over two runs,
# taking the lock up front (BEGIN IMMEDIATE) did 118 and 168 units/s against 157 and 122 for
# the default, and one writer behind an asyncio lock 97 and 73: no gain worth it, and both
# would deadlock code that opens a second unit of work while its first is open (identity
# records a failed login in its own, mid-request). The sqlite3 module's own ``BEGIN`` just
# before the first write keeps that working.
SQLITE_LOCK_WAIT_SECONDS = 60


def _prepare_sqlite(engine: AsyncEngine, url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets the relay read the outbox while a request writes; busy_timeout makes
        # writers wait for each other instead of failing with "database is locked".
        # busy_timeout first: switching to WAL needs a lock another connection may hold.
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_LOCK_WAIT_SECONDS * 1000}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


class Database:
    """An async engine and its session factory, created once in the app factory."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        options: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            options.update(pool_timeout=None)
        else:
            options.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine = create_async_engine(url, **options)
        if self.is_sqlite:
            _prepare_sqlite(self.engine, url)
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )
        self._after_commit: list[Callable[[], None]] = []

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after every successful unit of work (e.g. wake the outbox relay)."""
        self._after_commit.append(callback)

    @asynccontextmanager
    async def unit_of_work(self, *, notify: bool = True) -> AsyncIterator[AsyncSession]:
        """Yield a session; commit when the block succeeds, roll back when it raises.

        ``notify=False`` skips the after-commit callbacks: the outbox relay's own commits must
        not wake the relay again.
        """
        async with self._sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        if notify:
            for callback in self._after_commit:
                callback()

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query."""
        async with self.engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")

    async def dispose(self) -> None:
        await self.engine.dispose()
