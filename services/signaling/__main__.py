"""Signaling's command line: ``python -m services.signaling <command>``.

Commands: ``serve`` (uvicorn with the websockets protocol, no per-message compression, uvloop),
``migrate`` (Alembic upgrade to head) and ``protocol-docs`` (regenerate, or ``--check``, the
protocol reference in docs/ from the message models).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from services.signaling.app import create_app
from services.signaling.settings import SignalingSettings
from shared.cli import ServiceCommands


def serve(settings: SignalingSettings, _: argparse.Namespace) -> int:
    """Run the service until interrupted (uvicorn tuned for many idle WebSockets)."""
    import uvicorn

    from services.signaling.app import freeze_startup_objects, server_config

    app = create_app(settings)
    edge = app.state.signaling_edge

    class DrainingServer(uvicorn.Server):
        # uvicorn closes every WebSocket (1012) as it shuts down; before that, the rooms go to
        # the other processes and their clients are told where (docs/signaling.md, Draining).
        loop: asyncio.AbstractEventLoop | None = None

        async def startup(self, sockets: list[Any] | None = None) -> None:
            self.loop = asyncio.get_running_loop()
            await super().startup(sockets)

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            # The drain starts at the signal: uvicorn itself notices it only at its next
            # tick (every 100 ms), and every millisecond of a drain is a client waiting.
            super().handle_exit(sig, frame)
            if sig == signal.SIGTERM and self.loop is not None:
                self.loop.call_soon_threadsafe(edge.start_draining)

        async def shutdown(self, sockets: list[Any] | None = None) -> None:
            await edge.drain()
            await super().shutdown(sockets)

    server = DrainingServer(server_config(app, settings))
    freeze_startup_objects()
    server.run()
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


COMMANDS = ServiceCommands(
    "services.signaling",
    __doc__,
    settings=SignalingSettings,
    create_app=create_app,
    migrations=Path(__file__).parent / "migrations",
    serve=serve,
)
COMMANDS.add(
    "protocol-docs", "regenerate the protocol reference in docs/ from the models", protocol_docs
).add_argument(
    "--check", action="store_true", help="only report whether the reference is up to date"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return the process exit code."""
    return COMMANDS.main(argv)


if __name__ == "__main__":
    sys.exit(main())
