"""``python -m services.webhooks serve | migrate``."""

from __future__ import annotations

import argparse
from pathlib import Path

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def main(argv: list[str] | None = None) -> None:
    """Run the command named on the command line."""
    parser = argparse.ArgumentParser(prog="python -m services.webhooks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the HTTP API and run the dispatcher")
    commands.add_parser("migrate", help="upgrade the database to the latest migration")
    args = parser.parse_args(argv)

    from services.webhooks.settings import WebhooksSettings

    settings = WebhooksSettings()
    if args.command == "migrate":
        from shared.migrations import upgrade

        upgrade(MIGRATIONS, settings.database_url)
    else:
        import uvicorn

        from services.webhooks.app import create_app

        # log_config=None keeps the JSON logging the app configured.
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            log_config=None,
        )


if __name__ == "__main__":
    main()
