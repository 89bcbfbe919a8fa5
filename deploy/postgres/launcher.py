"""A throwaway PostgreSQL server built from the locally installed binaries.

Used by the test-suite (``tests/fixtures/postgres.py``) and by developers who want a scratch
server without Docker (there is no Docker engine on our machines)::

    python -m deploy.postgres.launcher run [--port 5433]

The server is tuned for speed, not durability (fsync off, no full-page writes, no synchronous
commit): everything lives in a temporary directory that is deleted on :meth:`PostgresServer.stop`.

``initdb`` and ``pg_ctl`` refuse to run as root, and our machines run everything as root, so
when the effective uid is 0 every server binary is run as the ``postgres`` system user through
``runuser``, and the data directory is handed to that user. As any other user the binaries are
run directly.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import glob
import grp
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

import asyncpg

from deploy.local_servers import LocalServer, free_port, log_tail, run_until_signal

__all__ = [
    "DatabaseAdmin",
    "ExternalPostgres",
    "PostgresNotInstalledError",
    "PostgresServer",
    "PostgresStartError",
    "find_bindir",
    "main",
]

_T = TypeVar("_T")

#: System account that owns the cluster when we are root (Debian's package creates it).
SERVICE_USER = "postgres"
#: Database superuser created by initdb (``-U``); trust auth, so no password.
SUPERUSER = "postgres"
HOST = "127.0.0.1"

#: Database names we accept: a plain identifier that fits PostgreSQL's 63-byte limit.
#: Restricting names means they need no quoting in URLs, and PostgreSQL never silently
#: truncates two long names into the same database.
_DB_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

#: Unix socket paths are limited to 107 bytes (sun_path); ".s.PGSQL.65535.lock" needs 20.
_MAX_SOCKET_DIR_LEN = 80

#: Server settings that trade durability for speed; a crash loses a test database, nothing more.
#: ``-F`` disables fsync too; ``fsync=off`` is kept explicit so the intent is readable in logs.
_SERVER_SETTINGS: tuple[str, ...] = (
    "-F",
    "-c max_connections=300",
    "-c fsync=off",
    "-c synchronous_commit=off",
    "-c full_page_writes=off",
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


def find_bindir() -> Path:
    """Return the directory holding ``initdb``/``pg_ctl``.

    ``pg_config --bindir`` is authoritative when present (Debian ships it in
    ``postgresql-common``'s wrapper and in libpq-dev); otherwise take the newest
    ``/usr/lib/postgresql/<major>/bin`` so a machine with only the server package still works.
    """
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            if out and (Path(out) / "initdb").exists() and (Path(out) / "pg_ctl").exists():
                return Path(out)

    def version(path: str) -> tuple[int, ...]:
        # /usr/lib/postgresql/15/bin -> (15,); sort numerically so 16 beats 9.6.
        try:
            return tuple(int(p) for p in Path(path).parent.name.split("."))
        except ValueError:
            return (-1,)

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    for cand in candidates:
        if (Path(cand) / "initdb").exists() and (Path(cand) / "pg_ctl").exists():
            return Path(cand)
    raise PostgresNotInstalledError(
        "PostgreSQL server binaries not found: `pg_config --bindir` gave nothing usable and no "
        "/usr/lib/postgresql/*/bin contains initdb and pg_ctl (apt-get install postgresql)."
    )


def _check_db_name(name: str) -> str:
    if not _DB_NAME_RE.fullmatch(name):
        raise ValueError(
            f"invalid database name {name!r}: use letters, digits and '_', "
            "not starting with a digit, at most 63 characters"
        )
    return name


def _run_blocking(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion from synchronous code.

    Runs it on a fresh event loop in a worker thread, because the caller may itself be inside
    a running loop (an async test or a pytest-asyncio fixture), where ``asyncio.run`` refuses
    to start. The cost is a thread start, negligible next to a CREATE DATABASE.
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-admin") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


async def _admin_execute(connect_kwargs: dict[str, Any], statements: Sequence[str]) -> None:
    """Execute statements one by one on a fresh connection.

    One ``execute`` per statement: asyncpg sends a multi-statement string as one implicit
    transaction, and CREATE/DROP DATABASE cannot run inside a transaction block.
    """
    conn = await asyncpg.connect(**connect_kwargs)
    try:
        for sql in statements:
            await conn.execute(sql)
    finally:
        await conn.close()


def _drop_sql(name: str) -> str:
    # WITH (FORCE) (PostgreSQL 13+) terminates leftover sessions, e.g. an engine a test forgot
    # to dispose of, which would otherwise make the drop fail with "being accessed by others".
    return f'DROP DATABASE IF EXISTS "{_check_db_name(name)}" WITH (FORCE)'


def _create_sql(name: str) -> str:
    return f'CREATE DATABASE "{_check_db_name(name)}"'


class _AdminConnection:
    """Creating and dropping databases over a connection to the maintenance database; the
    server's address and credentials come from ``_admin_kwargs``."""

    def _admin_kwargs(self) -> dict[str, Any]:
        raise NotImplementedError

    def create_database(self, name: str) -> None:
        """Create an empty database ``name``, dropping any existing one first (idempotent)."""
        _run_blocking(
            lambda: _admin_execute(self._admin_kwargs(), [_drop_sql(name), _create_sql(name)])
        )

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting any remaining sessions."""
        _run_blocking(lambda: _admin_execute(self._admin_kwargs(), [_drop_sql(name)]))


def _clean_env() -> dict[str, str]:
    """The environment for server binaries, minus libpq's PG* variables.

    A developer's PGPORT/PGDATA/PGOPTIONS/PGHOST would otherwise silently change what initdb,
    pg_ctl and the server do; every setting we need is passed explicitly.
    """
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


# --------------------------------------------------------------------------------------------
# the throwaway server


class PostgresServer(LocalServer, _AdminConnection):
    """A private PostgreSQL cluster in a temporary directory, listening on 127.0.0.1.

    Use as a context manager, or call :meth:`start` / :meth:`stop`::

        with PostgresServer() as pg:
            pg.create_database("app")
            engine = create_async_engine(pg.async_url("app"))

    ``data_dir``: by default a fresh temporary directory is created and deleted on stop. If a
    directory is given it is initialised when empty (reused if it already holds a cluster) and
    is *not* deleted on stop - it belongs to the caller. It must be reachable by the
    ``postgres`` user when running as root.
    """

    def __init__(self, port: int | None = None, data_dir: Path | None = None) -> None:
        self._requested_port = port
        self._port: int | None = port
        self._given_data_dir = Path(data_dir).absolute() if data_dir is not None else None
        self._data_dir: Path | None = None
        self._owns_data_dir = False
        self._bindir: Path | None = None
        self._started = False
        self._startup_seconds: float | None = None
        self._lock = threading.Lock()

    # ---- properties ----------------------------------------------------------------------

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
        """The cluster's data directory (also holds the Unix socket and ``log``)."""
        if self._data_dir is None:
            raise RuntimeError("PostgresServer has not been started")
        return self._data_dir

    @property
    def log_path(self) -> Path:
        """The server log written by pg_ctl."""
        return self.data_dir / "log"

    @property
    def dsn_base(self) -> str:
        """``postgresql+asyncpg://postgres@127.0.0.1:PORT``, the form RAPPORT_TEST_POSTGRES_DSN_BASE
        expects, so a server started by the CLI can be shared by several pytest runs."""
        return f"postgresql+asyncpg://{SUPERUSER}@{HOST}:{self.port}"

    @property
    def startup_seconds(self) -> float | None:
        """Wall time of the last :meth:`start` (initdb + server start + first connection)."""
        return self._startup_seconds

    # ---- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """initdb (unless the directory already holds a cluster), start, wait until it answers.

        Raises :class:`PostgresNotInstalledError` when the binaries are missing and
        :class:`PostgresStartError` (with output and log tail) when anything else fails.
        """
        with self._lock:
            if self._started:
                return
            t0 = time.monotonic()
            self._bindir = find_bindir()
            self._prepare_data_dir()
            try:
                if not (self.data_dir / "PG_VERSION").exists():
                    self._initdb()
                self._start_server(timeout)
                self._started = True
                # Safety net: a test run that dies without reaching stop() must not leave
                # a postmaster behind holding ports and /tmp space.
                atexit.register(self.stop)
                self._wait_connectable(deadline=time.monotonic() + timeout)
            except BaseException:
                self._teardown()
                raise
            self._startup_seconds = time.monotonic() - t0

    def stop(self) -> None:
        """Stop the server (fast shutdown: roll back open transactions, disconnect clients)
        and delete the data directory if we created it. Safe to call more than once."""
        with self._lock:
            self._teardown()

    def is_running(self) -> bool:
        """Whether the postmaster recorded in ``postmaster.pid`` is alive."""
        if self._data_dir is None:
            return False
        try:
            pid = int((self._data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # exists, owned by another user (postgres) while we are not root
        return True

    # ---- databases ------------------------------------------------------------------------

    def async_url(self, name: str) -> str:
        """SQLAlchemy URL for the asyncpg driver:
        ``postgresql+asyncpg://postgres@127.0.0.1:PORT/name``."""
        return f"{self.dsn_base}/{_check_db_name(name)}"

    # ---- internals ------------------------------------------------------------------------

    def _admin_kwargs(self, timeout: float = 10.0) -> dict[str, Any]:
        # ssl=False: the server has no certificate; skipping the SSL probe saves a round trip.
        return {
            "host": HOST,
            "port": self.port,
            "user": SUPERUSER,
            "database": "postgres",
            "ssl": False,
            "timeout": timeout,
        }

    @staticmethod
    def _as_root() -> bool:
        return os.geteuid() == 0

    def _service_account(self) -> pwd.struct_passwd:
        try:
            return pwd.getpwnam(SERVICE_USER)
        except KeyError:
            raise PostgresStartError(
                f"running as root, but there is no {SERVICE_USER!r} user to run initdb/pg_ctl "
                "as (they refuse root); install Debian's postgresql package or run as non-root"
            ) from None

    def _cmd(self, binary: str, *args: str) -> list[str]:
        """argv for a server binary, wrapped in runuser when we are root."""
        assert self._bindir is not None
        argv = [str(self._bindir / binary), *args]
        if not self._as_root():
            return argv
        runuser = shutil.which("runuser")
        if runuser is None:
            raise PostgresStartError("running as root but `runuser` (util-linux) is not on PATH")
        return [runuser, "-u", SERVICE_USER, "--", *argv]

    def _run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        # cwd="/": the postgres user may not be allowed into the caller's cwd (e.g. /root),
        # which makes initdb fail with "could not identify current directory".
        return subprocess.run(  # noqa: S603 - argv built from fixed binaries, no shell
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd="/",
            env=_clean_env(),
            check=False,
        )

    def _prepare_data_dir(self) -> None:
        if self._given_data_dir is not None:
            path = self._given_data_dir
            path.mkdir(parents=True, exist_ok=True)
            self._owns_data_dir = False
        else:
            path = Path(tempfile.mkdtemp(prefix="rapport-pg-", dir=self._temp_parent()))
            self._owns_data_dir = True
        self._data_dir = path
        if self._as_root():
            account = self._service_account()
            self._check_traversable(path.parent, account)
            # initdb insists the data directory is owned by the account running the server
            # and is mode 0700 (or 0750).
            os.chown(path, account.pw_uid, account.pw_gid)
        path.chmod(0o700)

    def _temp_parent(self) -> str | None:
        """Where to create the temp dir: $TMPDIR, unless postgres cannot reach it, then /tmp."""
        if not self._as_root():
            return None
        account = self._service_account()
        default = Path(tempfile.gettempdir())
        try:
            self._check_traversable(default, account)
            return str(default)
        except PostgresStartError:
            return "/tmp"  # noqa: S108 - world-traversable by definition; mkdtemp makes it private

    @staticmethod
    def _check_traversable(directory: Path, account: pwd.struct_passwd) -> None:
        """Fail early, with a clear message, if ``account`` cannot walk down to ``directory``.

        Without this, initdb dies with a bare "Permission denied" on some path component.
        """
        groups = set(os.getgrouplist(account.pw_name, account.pw_gid))
        for part in [directory, *directory.parents]:
            st = part.stat()
            if st.st_uid == account.pw_uid:
                ok = bool(st.st_mode & stat.S_IXUSR)
            elif st.st_gid in groups:
                ok = bool(st.st_mode & stat.S_IXGRP)
            else:
                ok = bool(st.st_mode & stat.S_IXOTH)
            if not ok:
                owner = _name_of(st.st_uid, st.st_gid)
                raise PostgresStartError(
                    f"the {account.pw_name!r} user cannot traverse {part} "
                    f"(mode {stat.filemode(st.st_mode)}, owner {owner}); "
                    "put the data directory somewhere like /tmp"
                )

    def _initdb(self) -> None:
        # --locale=C: deterministic collation independent of the caller's LANG, and it cannot
        # fail on a locale that is not generated on this machine. -E UTF8 is still honoured.
        # --no-sync: the cluster is disposable, so skip initdb's fsync of every file.
        proc = self._run(
            self._cmd(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ),
            timeout=120,
        )
        if proc.returncode != 0:
            raise PostgresStartError(
                f"initdb failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}".rstrip()
            )

    def _server_options(self, port: int) -> str:
        data_dir = str(self.data_dir)
        # The socket lives in the data dir so it vanishes with it. A Unix socket path longer
        # than sun_path would stop the server from starting; we only use TCP, so in that case
        # go without a socket.
        socket_dir = data_dir if len(data_dir) <= _MAX_SOCKET_DIR_LEN else ""
        # pg_ctl hands -o to /bin/sh, hence the quoting.
        return " ".join(
            [
                f"-p {port}",
                f"-k {shlex.quote(socket_dir)}",
                f"-c listen_addresses={HOST}",
                *_SERVER_SETTINGS,
            ]
        )

    def _start_server(self, timeout: float) -> None:
        attempts = 1 if self._requested_port is not None else 5
        for attempt in range(attempts):
            port = self._requested_port if self._requested_port is not None else free_port(HOST)
            log_offset = self._log_size()
            proc = self._run(
                self._cmd(
                    "pg_ctl",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_path),
                    "-o",
                    self._server_options(port),
                    "-t",
                    str(int(timeout)),
                    "-w",
                    "start",
                ),
                timeout=timeout + 15,
            )
            if proc.returncode == 0:
                self._port = port
                return
            new_log = self._read_log(since=log_offset)
            # A free port picked by us can be taken before the server binds it; try another.
            port_taken = "could not bind" in new_log or "Address already in use" in new_log
            if port_taken and attempt + 1 < attempts:
                continue
            raise PostgresStartError(
                f"pg_ctl start failed (exit {proc.returncode}) on port {port}:\n"
                f"{proc.stdout}{proc.stderr}\n--- server log tail ---\n{self.log_tail()}"
            )

    def _wait_connectable(self, deadline: float) -> None:
        """pg_ctl -w waits for the postmaster to report "ready"; also prove a real login and
        query work, so callers never race a half-started server."""
        last_error: BaseException | None = None

        async def probe() -> None:
            conn = await asyncpg.connect(**self._admin_kwargs(timeout=5.0))
            try:
                await conn.fetchval("SELECT 1")
            finally:
                await conn.close()

        while time.monotonic() < deadline:
            try:
                _run_blocking(probe)
                return
            except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
                last_error = exc
                time.sleep(0.05)
        raise PostgresStartError(
            f"server on {HOST}:{self._port} did not accept connections: {last_error!r}\n"
            f"--- server log tail ---\n{self.log_tail()}"
        )

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def _read_log(self, since: int = 0) -> str:
        try:
            with self.log_path.open("rb") as fh:
                fh.seek(since)
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the server log (for error messages)."""
        return log_tail(self.log_path, lines) if self._log_size() else "(no server log)"

    def _teardown(self) -> None:
        """Stop the postmaster if it runs and remove a data dir we created. Never raises for
        "already stopped"; reports a server that refuses to die."""
        if self._data_dir is None:
            return
        problems: list[str] = []
        if self._bindir is not None and (self._data_dir / "postmaster.pid").exists():
            for mode in ("fast", "immediate"):
                proc = self._run(
                    self._cmd("pg_ctl", "-D", str(self._data_dir), "-m", mode, "-w", "stop"),
                    timeout=60,
                )
                if proc.returncode == 0 or not self.is_running():
                    break
                problems.append(f"pg_ctl stop -m {mode}: {proc.stdout}{proc.stderr}".strip())
        if problems and self.is_running():
            # Keep the data dir: deleting it under a live postmaster only hides the leak.
            raise RuntimeError("could not stop PostgreSQL:\n" + "\n".join(problems))
        if self._owns_data_dir:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None
        self._started = False
        if self._requested_port is None:
            self._port = None
        atexit.unregister(self.stop)


def _name_of(uid: int, gid: int) -> str:
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return f"{user}:{group}"


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
    """``python -m deploy.postgres.launcher run [--port P] [--data-dir D] [--database NAME]``."""
    parser = argparse.ArgumentParser(prog="python -m deploy.postgres.launcher")
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
