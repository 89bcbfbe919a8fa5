"""A throwaway PostgreSQL server built from the locally installed binaries.

pytest-postgresql's executor (``PostgreSQLExecutor``, on mirakuru) initialises, starts, waits for
and stops the server; its janitor makes and drops databases. This module is what is left around
them, for what the library's pytest fixtures cannot do:

* a server outside pytest: ``python -m devservers.postgres.launcher run [--port 5433]`` for
  developers (there is no Docker engine on our machines) and :class:`PostgresServer` for the
  benches in ``bench/``;
* a cluster outside pytest's temporary tree, for the test-suite too (``tests/fixtures/
  postgres.py``): ``postgresql_proc`` puts it under ``/tmp/pytest-of-<user>`` (0700), which the
  postgres user can enter only if that is loosened, and any other pytest session of the same
  user tightens it again, after which the server is lost mid-run (seen here);
* the :class:`DatabaseAdmin` API the tests and benches use: a fresh, uniquely named database
  per test, handed over as an asyncpg SQLAlchemy URL. The library's ``postgresql`` fixture
  hands out a psycopg connection to one database name, and our code talks asyncpg through
  SQLAlchemy URLs; the databases themselves are made and dropped by the library's janitor
  (which also disconnects a session a test left open);
* :class:`ExternalPostgres`: the same API on a server someone else runs
  (``RAPPORT_TEST_POSTGRES_DSN_BASE``).

``initdb`` and ``pg_ctl`` refuse to run as root, and our machines run everything as root:
``pg_ctl`` next to this file is the executable given to the library, and runs the installed
``pg_ctl`` as the ``postgres`` system user when we are root.

The server is tuned for speed, not durability (fsync off, no full-page writes, no synchronous
commit): everything lives in a temporary directory that is deleted on :meth:`PostgresServer.stop`.
"""

from __future__ import annotations

import argparse
import atexit
import getpass
import glob
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from devservers.local_servers import LocalServer, free_port, log_tail, run_until_signal

__all__ = [
    "PG_CTL",
    "SERVER_OPTIONS",
    "DatabaseAdmin",
    "ExternalPostgres",
    "PostgresNotInstalledError",
    "PostgresServer",
    "PostgresStartError",
    "main",
]

#: The ``pg_ctl`` to give pytest-postgresql: runs the installed one, as postgres when root.
PG_CTL = Path(__file__).resolve().parent / "pg_ctl"
#: Database superuser created by initdb (``--username``); trust auth, so no password.
SUPERUSER = "postgres"
HOST = "127.0.0.1"

#: Database names we accept: a plain identifier that fits PostgreSQL's 63-byte limit.
#: Restricting names means they need no quoting in URLs, and PostgreSQL never silently
#: truncates two long names into the same database.
_DB_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

#: Server settings that trade durability for speed; a crash loses a test database, nothing more.
#: (The library already passes ``-F``, no fsync.) TCP on loopback only.
SERVER_OPTIONS = " ".join(
    (
        f"-c listen_addresses={HOST}",
        "-c max_connections=300",
        "-c fsync=off",
        "-c synchronous_commit=off",
        "-c full_page_writes=off",
    )
)


class PostgresNotInstalledError(RuntimeError):
    """The PostgreSQL server binaries (initdb, pg_ctl) could not be found."""


class PostgresStartError(RuntimeError):
    """initdb or the server failed; the message carries the relevant output/log tail."""


class DatabaseAdmin(Protocol):
    """What tests need from a server: make and drop databases, and connect to them."""

    def create_database(self, name: str) -> None: ...

    def drop_database(self, name: str) -> None: ...

    def async_url(self, name: str) -> str: ...


# --------------------------------------------------------------------------------------------
# helpers


def _check_db_name(name: str) -> str:
    if not _DB_NAME_RE.fullmatch(name):
        raise ValueError(
            f"invalid database name {name!r}: use letters, digits and '_', "
            "not starting with a digit, at most 63 characters"
        )
    return name


class _AdminConnection:
    """Creating and dropping databases, with pytest-postgresql's janitor, on the server that
    ``_admin_kwargs`` names (asyncpg-style keywords: host, port, user, password, database)."""

    def _admin_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

    def _janitor(self, name: str) -> Any:
        from pytest_postgresql.janitor import DatabaseJanitor

        kwargs = self._admin_kwargs()
        return DatabaseJanitor(
            user=kwargs.get("user") or getpass.getuser(),
            host=kwargs["host"],
            port=kwargs["port"],
            dbname=_check_db_name(name),
            maintenance_dbname=kwargs["database"],
            password=kwargs.get("password"),
            connection_timeout=10,
        )

    def create_database(self, name: str) -> None:
        """Create an empty database ``name``, dropping any existing one first (idempotent)."""
        janitor = self._janitor(name)
        janitor.drop()
        janitor.init()

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting any remaining sessions (the
        janitor closes it to new connections first, then terminates the open ones)."""
        self._janitor(name).drop()


# --------------------------------------------------------------------------------------------
# the throwaway server


class PostgresServer(LocalServer, _AdminConnection):
    """A private PostgreSQL cluster in a temporary directory, listening on 127.0.0.1.

    Use as a context manager, or call :meth:`start` / :meth:`stop`::

        with PostgresServer() as pg:
            pg.create_database("app")
            engine = create_async_engine(pg.async_url("app"))

    ``data_dir``: by default a fresh temporary directory is created and deleted on stop. If a
    directory is given, a cluster already in it is reused (otherwise one is initialised) and
    it is *not* deleted on stop - it belongs to the caller. As root, its parent must be one
    the ``postgres`` user can write to.
    """

    def __init__(self, port: int | None = None, data_dir: Path | None = None) -> None:
        self._requested_port = port
        self._port: int | None = port
        self._given_data_dir = Path(data_dir).absolute() if data_dir is not None else None
        self._workdir: Path | None = None
        self._data_dir: Path | None = None
        self._executor: Any = None
        self._startup_seconds: float | None = None
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        """Address the server listens on (TCP, loopback only)."""
        return HOST

    @property
    def port(self) -> int:
        """TCP port; known once :meth:`start` has run if none was requested."""
        if self._port is None:
            raise RuntimeError("PostgresServer has not been started; no port chosen yet")
        return self._port

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory."""
        if self._data_dir is None:
            raise RuntimeError("PostgresServer has not been started")
        return self._data_dir

    @property
    def log_path(self) -> Path:
        """The server log written by pg_ctl (beside the data directory)."""
        return self.data_dir.parent / f"{self.data_dir.name}.log"

    @property
    def dsn_base(self) -> str:
        """``postgresql+asyncpg://postgres@127.0.0.1:PORT``, the form RAPPORT_TEST_POSTGRES_DSN_BASE
        expects, so a server started by the CLI can be shared by several pytest runs."""
        return f"postgresql+asyncpg://{SUPERUSER}@{HOST}:{self.port}"

    @property
    def startup_seconds(self) -> float | None:
        """Wall time of the last :meth:`start` (initdb + server start)."""
        return self._startup_seconds

    def start(self, timeout: float = 60.0) -> None:
        """initdb (unless the directory already holds a cluster), start, wait until it answers.

        Raises :class:`PostgresNotInstalledError` when the binaries are missing and
        :class:`PostgresStartError` (with the log tail) when anything else fails.
        """
        # Imported here: the library is a test dependency, and so is this launcher.
        from mirakuru.exceptions import ExecutorError
        from pytest_postgresql.executors import PostgreSQLExecutor

        keep_cluster = self._given_data_dir is not None

        class Executor(PostgreSQLExecutor):
            # The library starts from an empty directory and deletes it when the executor
            # goes away; a cluster in a directory the caller gave is reused and kept.
            def init_directory(self) -> None:
                if keep_cluster and (Path(self.datadir) / "PG_VERSION").exists():
                    return
                super().init_directory()

            def clean_directory(self) -> None:
                if not keep_cluster:
                    super().clean_directory()

        with self._lock:
            if self._executor is not None:
                return
            if not (shutil.which("pg_config") or glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")):
                raise PostgresNotInstalledError(
                    "PostgreSQL server binaries not found (apt-get install postgresql)"
                )
            t0 = time.monotonic()
            if self._given_data_dir is not None:
                self._given_data_dir.parent.mkdir(parents=True, exist_ok=True)
                self._data_dir = self._given_data_dir
            else:
                # /tmp, not $TMPDIR: the postgres user must be able to reach it.
                self._workdir = Path(tempfile.mkdtemp(prefix="rapport-pg-", dir="/tmp"))  # noqa: S108
                self._data_dir = self._workdir / "data"
            port = self._requested_port or free_port(HOST)
            executor = Executor(
                executable=str(PG_CTL),
                host=HOST,
                port=port,
                datadir=str(self._data_dir),
                unixsocketdir="/tmp",  # noqa: S108 - the library's default; postgres can write it
                logfile=str(self.log_path),
                startparams="-w",
                dbname="postgres",
                user=SUPERUSER,
                timeout=int(timeout),
                postgres_options=SERVER_OPTIONS,
            )
            try:
                executor.start()
            except FileNotFoundError as exc:
                self._remove_workdir()
                raise PostgresNotInstalledError(str(exc)) from exc
            except (ExecutorError, OSError, ValueError, subprocess.CalledProcessError) as exc:
                # ValueError, CalledProcessError: pg_ctl (initdb, or --version) failed.
                tail = self.log_tail()
                self._stop_executor(executor)
                self._remove_workdir()
                raise PostgresStartError(
                    f"PostgreSQL failed to start on port {port}: {exc}\n"
                    f"--- server log tail ---\n{tail}"
                ) from exc
            self._executor = executor
            self._port = port
            # Safety net: a run that dies without reaching stop() must not leave a
            # postmaster behind holding ports and /tmp space.
            atexit.register(self.stop)
            self._startup_seconds = time.monotonic() - t0

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete the directory if we created it.
        Safe to call more than once."""
        with self._lock:
            if self._executor is not None:
                self._stop_executor(self._executor)
                self._executor = None
            self._remove_workdir()
            if self._requested_port is None:
                self._port = None
            atexit.unregister(self.stop)

    def is_running(self) -> bool:
        """Whether the postmaster answers ``pg_ctl status``."""
        return self._executor is not None and bool(self._executor.running())

    def async_url(self, name: str) -> str:
        """SQLAlchemy URL for the asyncpg driver:
        ``postgresql+asyncpg://postgres@127.0.0.1:PORT/name``."""
        return f"{self.dsn_base}/{_check_db_name(name)}"

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the server log (for error messages)."""
        if self._data_dir is None or not self.log_path.exists():
            return "(no server log)"
        return log_tail(self.log_path, lines)

    def _admin_kwargs(self) -> dict[str, Any]:
        return {
            "host": HOST,
            "port": self.port,
            "user": SUPERUSER,
            "database": "postgres",
            "timeout": 10.0,
        }

    @staticmethod
    def _stop_executor(executor: Any) -> None:
        from mirakuru.exceptions import ExecutorError

        # A server that never came up has nothing to stop; pg_ctl says so and fails.
        if executor.running():
            try:
                executor.stop()
            except (ExecutorError, OSError) as exc:
                raise RuntimeError(f"could not stop PostgreSQL: {exc}") from exc

    def _remove_workdir(self) -> None:
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
            self._data_dir = None


# --------------------------------------------------------------------------------------------
# an already running server (e.g. RAPPORT_TEST_POSTGRES_DSN_BASE)


class ExternalPostgres(_AdminConnection):
    """The :class:`DatabaseAdmin` API on a server someone else runs.

    ``dsn_base`` is a SQLAlchemy URL without a database, e.g.
    ``postgresql+asyncpg://postgres@127.0.0.1:5432`` (user/password/host/port are used; a
    database in the URL names the maintenance database to connect to, default ``postgres``).
    The user needs CREATEDB.
    """

    def __init__(self, dsn_base: str) -> None:
        # Imported here so the launcher's CLI does not pay for SQLAlchemy.
        from sqlalchemy.engine import make_url

        url = make_url(dsn_base)
        if not url.drivername.startswith("postgresql"):
            raise ValueError(f"not a PostgreSQL URL: {dsn_base!r}")
        self._url = url.set(drivername="postgresql+asyncpg")
        self._admin_db = url.database or "postgres"

    @property
    def host(self) -> str:
        """Host from the URL (default 127.0.0.1)."""
        return self._url.host or HOST

    @property
    def port(self) -> int:
        """Port from the URL (default 5432)."""
        return self._url.port or 5432

    def async_url(self, name: str) -> str:
        """SQLAlchemy asyncpg URL for database ``name`` on this server (password included)."""
        return self._url.set(database=_check_db_name(name)).render_as_string(hide_password=False)

    def _admin_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "database": self._admin_db,
            "timeout": 10.0,
        }
        if self._url.username:
            kwargs["user"] = self._url.username
        if self._url.password is not None:
            kwargs["password"] = self._url.password
        return kwargs


# --------------------------------------------------------------------------------------------
# CLI


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m devservers.postgres.launcher run [--port P] [--data-dir D] [--database N]``."""
    parser = argparse.ArgumentParser(prog="python -m devservers.postgres.launcher")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start a throwaway server and block until SIGINT/SIGTERM")
    run.add_argument("--port", type=int, default=None, help="TCP port (default: a free one)")
    run.add_argument(
        "--data-dir", type=Path, default=None, help="keep the cluster here (default: temp dir)"
    )
    run.add_argument("--database", default=None, help="also create this database")
    args = parser.parse_args(argv)

    server = PostgresServer(port=args.port, data_dir=args.data_dir)

    def start() -> None:
        server.start()
        db = args.database or "postgres"
        if args.database:
            server.create_database(args.database)
        print(server.async_url(db), flush=True)
        print(
            f"# started in {server.startup_seconds:.2f}s; data dir {server.data_dir}\n"
            f"# for pytest: export RAPPORT_TEST_POSTGRES_DSN_BASE={server.dsn_base}",
            file=sys.stderr,
            flush=True,
        )

    def check_alive() -> None:
        if not server.is_running():
            raise PostgresStartError("postgres exited; log tail:\n" + server.log_tail())

    try:
        run_until_signal("PostgreSQL", start=start, check_alive=check_alive, stop=server.stop)
    except (PostgresNotInstalledError, PostgresStartError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
