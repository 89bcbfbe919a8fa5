"""``python -m services.webhooks serve | migrate``."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from services.webhooks.app import create_app
from services.webhooks.settings import MissingSecretsKey, WebhooksSettings
from shared.cli import ServiceCommands

COMMANDS = ServiceCommands(
    "services.webhooks",
    __doc__,
    settings=WebhooksSettings,
    create_app=create_app,
    migrations=Path(__file__).resolve().parent / "migrations",
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named on the command line; return the exit code."""
    try:
        return COMMANDS.main(argv)
    except MissingSecretsKey as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
