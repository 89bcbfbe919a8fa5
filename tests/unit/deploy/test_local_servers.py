"""The helpers the Kafka and PostgreSQL launchers share: ports, log tails, the run loop."""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import pytest

from devservers.local_servers import LocalServer, free_ports, log_tail, run_until_signal


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(6)

    assert len(set(ports)) == 6
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", port))


def test_log_tail_gives_the_last_lines_or_says_why_not(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))

    assert log_tail(log, 3) == "line 97\nline 98\nline 99"
    assert log_tail(tmp_path / "missing.log").startswith("<cannot read ")


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def stop(self) -> None:
        self.calls.append("stop")


def test_sigterm_stops_the_server_and_restores_the_handlers() -> None:
    server = _Recorder()
    before = signal.getsignal(signal.SIGTERM)

    def alive() -> None:
        server.calls.append("alive")
        os.kill(os.getpid(), signal.SIGTERM)

    run_until_signal(
        "test", start=server.start, check_alive=alive, stop=server.stop, poll_seconds=0
    )

    assert server.calls == ["start", "alive", "stop"]
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_server_that_dies_ends_the_run_and_is_still_stopped() -> None:
    server = _Recorder()

    def dead() -> None:
        raise RuntimeError("the server exited")

    with pytest.raises(RuntimeError, match="exited"):
        run_until_signal(
            "test", start=server.start, check_alive=dead, stop=server.stop, poll_seconds=0
        )

    assert server.calls == ["start", "stop"]


def test_a_local_server_is_a_context_manager() -> None:
    class Server(LocalServer):
        def __init__(self) -> None:
            self.running = False

        def start(self) -> None:
            self.running = True

        def stop(self) -> None:
            self.running = False

    with Server() as server:
        assert server.running
    assert not server.running
