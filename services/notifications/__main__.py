"""``python -m services.notifications serve | migrate``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from shared.cli import ServiceCommands

COMMANDS = ServiceCommands(
    "services.notifications",
    __doc__,
    settings=NotificationsSettings,
    create_app=create_app,
    migrations=Path(__file__).resolve().parent / "migrations",
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named on the command line; return the exit code."""
    return COMMANDS.main(argv)


if __name__ == "__main__":
    sys.exit(main())
