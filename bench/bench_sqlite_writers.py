"""Many concurrent units of work on one SQLite file: how each way of taking the write lock copes.

Every unit of work does what a request does: reads, then writes (as an audited read does),
then commits. Three ways to run them, each on a fresh file in the same run, with the busy
and pool timeouts of each row (the first row is the settings shared.db had before):

- ``deferred`` (what shared.db does): the sqlite3 module's default, reads outside a transaction, and
  ``BEGIN`` just before the first write; writers wait in SQLite's busy handler (polling,
  sleeps of up to 100 ms, no order) and fail with "database is locked" when the busy
  timeout runs out, or in the connection pool's queue when its timeout does.
- ``immediate``: ``BEGIN IMMEDIATE`` takes the write lock before the first read.
- ``queued``: the same, behind one in-process asyncio lock: writers wait in the event loop,
  first come first served, holding no pooled connection meanwhile.

Prints units per second, failures and the slowest unit for each. Passes or fails nothing.

    uv run python bench/bench_sqlite_writers.py [--units 2000] [--statements 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _table  # noqa: E402


async def _run(
    mode: str, busy_ms: int, pool_s: int, path: Path, units: int, statements: int
) -> tuple[float, int, float, set[str]]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}", pool_timeout=pool_s)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        if mode != "deferred":
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves

    if mode != "deferred":

        @event.listens_for(engine.sync_engine, "begin")
        def _begin(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE rows (id INTEGER PRIMARY KEY, v TEXT)"))
        await connection.execute(text("INSERT INTO rows (v) VALUES ('seed')"))

    lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def unit() -> AsyncIterator[AsyncConnection]:
        if mode == "queued":
            async with lock, engine.begin() as connection:
                yield connection
        else:
            async with engine.begin() as connection:
                yield connection

    failures: set[str] = set()
    failed = 0
    slowest = 0.0

    async def one(i: int) -> None:
        nonlocal failed, slowest
        started = time.perf_counter()
        try:
            async with unit() as connection:
                await connection.execute(text("SELECT count(*) FROM rows"))
                await connection.execute(text("INSERT INTO rows (v) VALUES (:v)"), {"v": str(i)})
                # What else a request does while it holds the write lock: an event for the
                # outbox, reading back what it wrote.
                for _ in range(statements):
                    await connection.execute(text("SELECT v FROM rows WHERE id = 1"))
        except (SQLAlchemyError, TimeoutError) as exc:
            failed += 1
            failures.add(str(getattr(exc, "orig", exc) or type(exc).__name__)[:60])
        slowest = max(slowest, time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(units)))
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return units / elapsed, failed, slowest, failures


# (mode, busy timeout in ms, pool timeout in s): the settings before, and the candidates.
MODES = [
    ("deferred", 5000, 30),
    ("deferred", 60000, 60),
    ("immediate", 60000, 60),
    ("queued", 60000, 60),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=2000)
    parser.add_argument("--statements", type=int, default=3, help="more per unit after its write")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: does it still run")
    args = parser.parse_args()
    if args.quick:
        args.units = 20
    rates: dict[tuple[str, int], tuple[float, int]] = {}
    print(f"{args.units} concurrent read-then-write units of work on one SQLite file (WAL)")
    print(
        f"{'mode':<10} {'busy s':>6} {'pool s':>6} {'units/s':>9} {'failed':>7} {'slowest s':>10}"
        "  errors"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for mode, busy_ms, pool_s in MODES:
            path = Path(tmp) / f"{mode}{busy_ms}.db"
            rate, failed, slowest, failures = asyncio.run(
                _run(mode, busy_ms, pool_s, path, args.units, args.statements)
            )
            print(
                f"{mode:<10} {busy_ms / 1000:>6.0f} {pool_s:>6} {rate:>9.0f} {failed:>7}"
                f" {slowest:>10.2f}"
                f"  {sorted(failures)}"
            )
            rates[mode, busy_ms] = rate, failed
    # The first row is the settings shared.db had before; the second what it does now.
    (before, _), (now, failed_now) = rates[MODES[0][:2]], rates[MODES[1][:2]]
    _table.report(
        [
            _table.Figure(
                bench="sqlite_writers",
                name=f"{args.units} concurrent read-then-write units, 60 s busy ({failed_now} failed)",
                value=now,
                unit="units/s",
                samples=args.units - failed_now,
                baseline=before,
                baseline_name="deferred, 5 s busy timeout",
            )
        ]
    )


if __name__ == "__main__":
    main()
