"""What the local server launchers (``devservers/kafka``, ``devservers/postgres``) have in common.

Free loopback ports, the end of a server's log for error messages, the context-manager
protocol of a server that starts and stops, and the foreground loop of their ``run``
commands: serve until SIGINT/SIGTERM, end as soon as the server dies, always stop it.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Self

__all__ = ["LocalServer", "free_port", "free_ports", "log_tail", "run_until_signal"]

LOOPBACK = "127.0.0.1"


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """``count`` distinct ports the kernel reports free on ``host``.

    There is a window between closing these sockets and the server binding the ports; a
    caller that cannot choose its port again checks it (or retries) when the server starts.
    """
    # All sockets stay open until every port is chosen so the kernel hands out distinct ones.
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(host: str = LOOPBACK) -> int:
    """One port the kernel reports free on ``host`` (see :func:`free_ports`)."""
    return free_ports(1, host)[0]


def log_tail(path: Path, lines: int = 40, *, max_bytes: int = 64 * 1024) -> str:
    """The last ``lines`` lines of a log (read from its last ``max_bytes``), for errors."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - max_bytes))
            data = f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(data.splitlines()[-lines:])


class LocalServer:
    """A server object used as a context manager: ``with`` starts it, leaving stops it."""

    def start(self) -> object:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _StopOnSignal:
    """Signal handler: the first SIGINT/SIGTERM unwinds like Ctrl-C, later ones are ignored.

    Several copies of one stop request are normal (honcho signals our whole process group
    and ``uv run`` forwards the same signal to us again); only the first may raise, or the
    second would interrupt ``stop()`` half way and leave processes behind.
    """

    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if not self.requested:
            self.requested = True
            raise KeyboardInterrupt


def run_until_signal(
    name: str,
    *,
    start: Callable[[], object],
    check_alive: Callable[[], object],
    stop: Callable[[], object],
    poll_seconds: float = 1.0,
) -> None:
    """Start a server, keep it up until SIGINT/SIGTERM, then stop it; the ``run`` commands.

    ``check_alive`` raises when the server died under us: the exception ends this process
    too, so that honcho notices and stops ``make run`` instead of serving without it.
    ``stop`` runs whatever ended the wait, a signal during ``start`` included.
    """
    # SIGTERM (honcho, systemd, kill) must unwind like Ctrl-C so that the server is stopped;
    # honcho also starts us with SIGINT ignored, so install both, before starting.
    handler = _StopOnSignal()
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        start()
        # Poll rather than pause(): a server that dies must end this process as well.
        while True:
            time.sleep(poll_seconds)
            check_alive()
    except KeyboardInterrupt:
        print(f"Stopping {name}...", file=sys.stderr, flush=True)
    finally:
        # Any signal from here on is ignored by the handler; stop() escalates on its own.
        handler.requested = True
        try:
            stop()
        finally:
            for sig, before in previous.items():
                signal.signal(sig, before)
    print(f"{name} stopped", file=sys.stderr, flush=True)
