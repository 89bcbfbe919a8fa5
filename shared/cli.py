"""The command line every process shares: ``python -m <package> serve | migrate | …``.

Each service's ``__main__`` builds one :class:`ServiceCommands` with its settings class, its
``create_app`` and its migrations folder, adds the commands only it has (``rotate-keys``,
``verify-audit``, …) and calls :meth:`ServiceCommands.main`. A command is a function
``(settings, arguments) -> exit code``; an expected failure (bad input, a database that is down
or not migrated) becomes one line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp

from shared.errors import RapportError
from shared.settings import ServiceSettings

if TYPE_CHECKING:
    import uvicorn

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
Command = Callable[[SettingsT, argparse.Namespace], int]


class ServiceCommands(Generic[SettingsT]):
    """The argument parser and dispatcher of one process's commands."""

    def __init__(
        self,
        package: str,
        description: str | None,
        *,
        settings: Callable[[], SettingsT],
        create_app: Callable[[SettingsT], ASGIApp],
        migrations: Path | None = None,
        serve: Command[SettingsT] | None = None,
    ) -> None:
        self._package = package
        self._settings = settings
        self._create_app = create_app
        self._migrations = migrations
        self.parser = argparse.ArgumentParser(prog=f"python -m {package}", description=description)
        self._commands = self.parser.add_subparsers(
            dest="command", required=True, metavar="command"
        )
        self.add(
            "serve", "serve the HTTP API on the configured host and port", serve or self._serve
        )
        if migrations is not None:
            self.add("migrate", "upgrade the database to the newest schema", self._migrate)

    def add(self, name: str, help: str, run: Command[SettingsT]) -> argparse.ArgumentParser:
        """Add a command; the returned parser takes the command's own arguments."""
        command = self._commands.add_parser(name, help=help)
        command.set_defaults(run=run)
        return command

    def main(self, argv: Sequence[str] | None = None) -> int:
        """Run the command named in ``argv``; return the process exit code."""
        arguments = self.parser.parse_args(argv)
        settings = self._settings()
        try:
            code: int = arguments.run(settings, arguments)
        except RapportError as exc:
            print(f"error: {exc.detail}", file=sys.stderr)
            return 1
        except SQLAlchemyError as exc:
            print(
                f"error: database {settings.database_url} failed ({type(exc).__name__}); "
                f"is it reachable and migrated (python -m {self._package} migrate)?",
                file=sys.stderr,
            )
            return 1
        return code

    def _serve(self, settings: SettingsT, _: argparse.Namespace) -> int:
        import uvicorn

        server = uvicorn.Server(server_config(self._create_app(settings), settings))
        server.run()
        return 0 if server.started else 3  # uvicorn's own code for a server that never started

    def _migrate(self, settings: SettingsT, _: argparse.Namespace) -> int:
        from shared.migrations import upgrade

        assert self._migrations is not None  # the command exists only with a folder
        upgrade(self._migrations, settings.database_url)
        print(f"{self._package} database at head: {settings.database_url}")
        return 0


def server_config(app: ASGIApp, settings: ServiceSettings, **options: Any) -> uvicorn.Config:
    """How ``serve`` runs ``app`` with uvicorn; ``options`` add to (or change) uvicorn's."""
    import uvicorn

    defaults: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "loop": "uvloop",
        # Keep the JSON logging the app configured instead of uvicorn's own; the app logs
        # each request itself, without the query string uvicorn's access log would write.
        "log_config": None,
        "access_log": False,
        # The app applies the trusted-proxy policy (shared/forwarded.py); uvicorn's own
        # would believe X-Forwarded-For from 127.0.0.1 by default.
        "proxy_headers": False,
        "server_header": False,
    }
    return uvicorn.Config(app, **{**defaults, **options})
