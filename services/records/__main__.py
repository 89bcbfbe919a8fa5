"""``python -m services.records serve | migrate | verify-audit``."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Sequence

import uvicorn

from services.records.app import create_app, migrate, verify_audit
from services.records.settings import RecordsSettings


def main(argv: Sequence[str] | None = None) -> None:
    """Run the records command named in ``argv``."""
    parser = argparse.ArgumentParser(
        prog="python -m services.records",
        description="Rapport records: appointments, session records, goals, audit log.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the HTTP API on the configured host and port")
    commands.add_parser("migrate", help="upgrade the database to the newest schema")
    commands.add_parser(
        "verify-audit", help="check the audit log's hash chain; exit 1 if an entry was changed"
    )
    arguments = parser.parse_args(argv)

    settings = RecordsSettings()
    if arguments.command == "migrate":
        migrate(settings.database_url)
    elif arguments.command == "verify-audit":
        result = asyncio.run(verify_audit(settings.database_url))
        problems = result.problems or []
        print(
            json.dumps(
                {
                    "ok": result.ok,
                    "checked": result.checked,
                    "head": result.head,
                    "problems": [{"entry_id": p.entry_id, "what": p.what} for p in problems],
                }
            )
        )
        if not result.ok:
            raise SystemExit(1)
    else:
        uvicorn.run(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            loop="uvloop",
            # Keep the JSON logging create_app configured instead of uvicorn's own.
            log_config=None,
            server_header=False,
        )


if __name__ == "__main__":
    main()
