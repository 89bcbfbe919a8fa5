"""``python -m devservers.smtp_sink``: a local SMTP server that keeps every message as a file.

For ``make run`` and tests: nothing is relayed anywhere. Each message is written to
``<dir>/<UTC time>-<n>.eml`` (open it in any mail client, or read it as text), and one line per
message is printed (recipients and subject only).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import signal
import sys
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class MaildropHandler:
    """An aiosmtpd handler that writes each message it accepts to a folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._numbers = itertools.count(1)
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        content = envelope.original_content or b""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        path = self.folder / f"{stamp}-{next(self._numbers)}.eml"
        path.write_bytes(content)
        subject = message_from_bytes(content, policy=policy.default).get("Subject", "")
        print(f"mail to {', '.join(envelope.rcpt_tos)}: {subject} -> {path}", flush=True)
        return "250 Message accepted for delivery"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devservers.smtp_sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", type=Path, default=Path("var/mail"))
    arguments = parser.parse_args(argv)
    controller = Controller(
        MaildropHandler(arguments.dir), hostname=arguments.host, port=arguments.port
    )
    controller.start()
    print(f"SMTP sink on {arguments.host}:{arguments.port}, mail in {arguments.dir}/", flush=True)

    async def wait_for_signal() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    try:
        asyncio.run(wait_for_signal())
    finally:
        controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
