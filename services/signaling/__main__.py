"""Signaling's command line: ``python -m services.signaling <command>``.

Commands: ``serve`` (uvicorn with the websockets protocol, no per-message compression, uvloop),
``migrate`` (Alembic upgrade to head) and ``protocol-docs`` (regenerate, or ``--check``, the
protocol reference in docs/ from the message models).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from services.signaling.settings import SignalingSettings
from shared.migrations import upgrade

MIGRATIONS = Path(__file__).parent / "migrations"


def serve(settings: SignalingSettings, _: argparse.Namespace) -> int:
    """Run the service until interrupted."""
    import uvicorn

    from services.signaling.app import create_app, server_config

    uvicorn.Server(server_config(create_app(settings), settings)).run()
    return 0


def migrate(settings: SignalingSettings, _: argparse.Namespace) -> int:
    """Upgrade the database to the newest schema."""
    upgrade(MIGRATIONS, settings.database_url)
    print(f"signaling database at head: {settings.database_url}")
    return 0


def protocol_docs(_: SignalingSettings, args: argparse.Namespace) -> int:
    """Regenerate docs/signaling.md's reference and docs/signaling.schema.json."""
    from services.signaling import docs

    if args.check:
        stale = docs.stale_files()
        for path in stale:
            print(f"out of date: {path}", file=sys.stderr)
        return 1 if stale else 0
    for path in docs.write_files():
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every signaling command."""
    parser = argparse.ArgumentParser(prog="python -m services.signaling", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="command")
    commands.add_parser("serve", help="run the signaling service").set_defaults(run=serve)
    commands.add_parser("migrate", help="upgrade the database schema").set_defaults(run=migrate)
    reference = commands.add_parser(
        "protocol-docs", help="regenerate the protocol reference in docs/ from the models"
    )
    reference.add_argument(
        "--check", action="store_true", help="only report whether the reference is up to date"
    )
    reference.set_defaults(run=protocol_docs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    args = build_parser().parse_args(argv)
    code: int = args.run(SignalingSettings(), args)
    return code


if __name__ == "__main__":
    sys.exit(main())
