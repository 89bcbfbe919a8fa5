"""A real gateway process (``python -m gateway``, as operators run it) in front of a real
stand-in service process, both on loopback, and what the tests read of the gateway process:
its memory, from /proc.

No Kafka here: revocations are off (tests/integration/identity covers them over a broker).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.tokens import TestTokenIssuer

ROOT = Path(__file__).resolve().parents[3]
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def memory_kib(pid: int, field: str) -> int:
    """A memory figure of a process from /proc/<pid>/status (VmHWM: its peak RSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


@dataclass
class Process:
    """A process of the test, with its port and its log."""

    name: str
    port: int
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def peak_rss_kib(self) -> int:
        return memory_kib(self.popen.pid, "VmHWM")

    def wait_until_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not become healthy:\n{self.log.read_text()}")

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()


def spawn(name: str, command: list[str], env: dict[str, str], log_dir: Path, port: int) -> Process:
    log = log_dir / f"{name}.log"
    with log.open("wb") as output:
        popen = subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=output)
    process = Process(name, port, popen, log)
    process.wait_until_healthy()
    return process


@pytest.fixture(scope="package")
def token_issuer() -> TestTokenIssuer:
    return TestTokenIssuer()


@pytest.fixture(scope="package")
def upstream(
    token_issuer: TestTokenIssuer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Process]:
    log_dir = tmp_path_factory.mktemp("upstream")
    jwks = log_dir / "jwks.json"
    jwks.write_text(json.dumps(token_issuer.jwks))
    port = free_port()
    command = [sys.executable, "-m", "tests.integration.gateway.upstream", str(port), str(jwks)]
    process = spawn("upstream", command, dict(os.environ), log_dir, port)
    yield process
    process.stop()


class GatewayProcesses:
    """Starts ``python -m gateway`` processes in front of ``upstream``, stops them at the end."""

    def __init__(self, upstream: Process, log_dir: Path) -> None:
        self._upstream = upstream
        self._log_dir = log_dir
        self._started: list[Process] = []

    def start(self, **settings: str) -> Process:
        """A gateway with every service at ``upstream`` and ``RAPPORT_GATEWAY_<settings>``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
        port = free_port()
        env.update(
            RAPPORT_ENVIRONMENT="test",
            RAPPORT_LOG_LEVEL="WARNING",
            RAPPORT_JWKS_URL=f"{self._upstream.url}/.well-known/jwks.json",
            RAPPORT_GATEWAY_PORT=str(port),
            RAPPORT_GATEWAY_IDENTITY_URL=self._upstream.url,
            RAPPORT_GATEWAY_RECORDS_URL=self._upstream.url,
            RAPPORT_GATEWAY_WEBHOOKS_URL=self._upstream.url,
            RAPPORT_GATEWAY_SIGNALING_URLS=self._upstream.url,
            RAPPORT_GATEWAY_REVOCATIONS_ENABLED="false",
        )
        env.update({f"RAPPORT_GATEWAY_{name.upper()}": value for name, value in settings.items()})
        name = f"gateway-{len(self._started) + 1}"
        process = spawn(name, [sys.executable, "-m", "gateway"], env, self._log_dir, port)
        self._started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self._started:
            process.stop()


@pytest.fixture(scope="package")
def gateways(
    upstream: Process, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcesses]:
    processes = GatewayProcesses(upstream, tmp_path_factory.mktemp("gateways"))
    yield processes
    processes.stop_all()


@pytest.fixture(scope="package")
def gateway(gateways: GatewayProcesses) -> Process:
    """A gateway with the default settings."""
    return gateways.start()


@pytest.fixture
def bearer(token_issuer: TestTokenIssuer) -> dict[str, str]:
    token = token_issuer.issue("3f1c0e7e-1111-4222-8333-944455556666", "clinician")
    return {"Authorization": f"Bearer {token}"}
