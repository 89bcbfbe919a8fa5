"""``python -m services.records serve | migrate | verify-audit``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

from services.records.app import MIGRATIONS_DIR, create_app, verify_audit
from services.records.settings import RecordsSettings
from shared.cli import ServiceCommands

COMMANDS = ServiceCommands(
    "services.records",
    "Rapport records: appointments, session records, goals, audit log.",
    settings=RecordsSettings,
    create_app=create_app,
    migrations=MIGRATIONS_DIR,
)


def verify_audit_log(settings: RecordsSettings, _: argparse.Namespace) -> int:
    """Check the audit log's hash chain; print the result as JSON; 1 if it was tampered with.

    ``unsealed`` counts committed entries the sealer has not chained yet (a running service
    seals them within ``audit_seal_seconds``); they are not part of the check.
    """
    result = asyncio.run(verify_audit(settings.database_url))
    problems = result.problems or []
    print(
        json.dumps(
            {
                "ok": result.ok,
                "checked": result.checked,
                "head": result.head,
                "unsealed": result.unsealed,
                "problems": [{"entry_id": p.entry_id, "what": p.what} for p in problems],
            }
        )
    )
    return 0 if result.ok else 1


COMMANDS.add(
    "verify-audit",
    "check the audit log's hash chain; exit 1 if an entry was changed",
    verify_audit_log,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the records command named in ``argv``; return the exit code."""
    return COMMANDS.main(argv)


if __name__ == "__main__":
    sys.exit(main())
