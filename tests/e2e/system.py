"""Every Rapport process started for real, against a real Kafka broker and real PostgreSQL.

Each service gets its own PostgreSQL database, its own port, and is run exactly as an
operator would run it: ``python -m services.<name> migrate`` then ``... serve``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVICES = ["identity", "records", "signaling", "webhooks"]
# Header and claims of a JWT: base64url JSON objects, which always start "eyJ".
JWT_SHAPE = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.")
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RapportSystem:
    kafka_bootstrap: str
    postgres: object  # tests.fixtures.postgres server (create_database / async_url)
    log_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    databases: list[str] = field(default_factory=list)
    # How many signaling processes run behind the gateway. They share one database (the
    # projection of who may join) and one consumer group; each holds the rooms the gateway
    # routes to it. Named "signaling", "signaling-2", ... in ports/processes/logs.
    signaling_processes: int = 1
    # What no process may ever log (tokens, clinical text), by what it is; see leaks().
    secrets: dict[str, str] = field(default_factory=dict)
    # Environment variables set on top of the system's own (a test's own settings).
    overrides: dict[str, str] = field(default_factory=dict)
    # Where every process exports its spans over OTLP/HTTP; None: tracing stays off.
    otlp_endpoint: str | None = None

    @property
    def signaling_names(self) -> list[str]:
        """The process names of every signaling process, the first being "signaling"."""
        return ["signaling"] + [f"signaling-{n}" for n in range(2, self.signaling_processes + 1)]

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAPPORT_", "OTEL_"))}
        env.update(
            RAPPORT_ENVIRONMENT="test",
            RAPPORT_KAFKA_BOOTSTRAP=self.kafka_bootstrap,
            RAPPORT_JWKS_URL=f"{self.url('identity')}/.well-known/jwks.json",
            # The public origin is the gateway's: the SMART token endpoint (client
            # assertions' audience) and FHIR links name it.
            RAPPORT_PUBLIC_URL=self.gateway_url,
            RAPPORT_WEBHOOKS_ALLOW_PRIVATE_URLS="true",
            RAPPORT_WEBHOOKS_DISPATCHER_POLL_SECONDS="0.2",
            RAPPORT_LOG_LEVEL="INFO",
            # Every simulated user logs in from 127.0.0.1: the per-address login limits of
            # the gateway and identity are meant for one person's address, not a test run's.
            RAPPORT_GATEWAY_LOGIN_RATE_PER_MINUTE="6000",
            RAPPORT_GATEWAY_LOGIN_BURST="1000",
            RAPPORT_IDENTITY_LOGIN_ATTEMPTS_PER_MINUTE_PER_ADDRESS="6000",
            RAPPORT_IDENTITY_LOGIN_ADDRESS_BURST="1000",
        )
        for name in SERVICES:
            prefix = f"RAPPORT_{name.upper()}_"
            env[prefix + "PORT"] = str(self.ports[name])
            env[prefix + "DATABASE_URL"] = self.postgres.async_url(self._db(name))  # type: ignore[attr-defined]
            env[f"RAPPORT_GATEWAY_{name.upper()}_URL"] = self.url(name)
            # The gateway connects from 127.0.0.1: its X-Forwarded-For is the client's address.
            env[prefix + "TRUSTED_PROXIES"] = "127.0.0.1"
        signaling_urls = ",".join(self.url(name) for name in self.signaling_names)
        env["RAPPORT_GATEWAY_SIGNALING_URL"] = signaling_urls
        env["RAPPORT_GATEWAY_SIGNALING_URLS"] = signaling_urls
        env["RAPPORT_GATEWAY_PORT"] = str(self.ports["gateway"])
        # The rooms' consumer group and topics are this run's own: two systems on one broker
        # (a test module's and the package's) must not share out each other's rooms.
        env["RAPPORT_SIGNALING_ROOMS_TOPIC"] = f"rapport.signaling.rooms.{self.run_id}"
        env["RAPPORT_SIGNALING_OWNERS_TOPIC"] = f"rapport.signaling.owners.{self.run_id}"
        env["RAPPORT_GATEWAY_SIGNALING_OWNERS_TOPIC"] = f"rapport.signaling.owners.{self.run_id}"
        env["RAPPORT_SIGNALING_ROOMS_GROUP_ID"] = f"rapport-signaling-rooms-{self.run_id}"
        for name in SERVICES:
            # Another system may run on the same broker (test_signaling_failover.py starts its
            # own beside the package's): each consumes the events in groups of its own.
            env[f"RAPPORT_{name.upper()}_CONSUMER_GROUP"] = f"{name}-{self.run_id}"
        # Systems on one broker share the event topics, so a consent document one system's
        # records publishes reaches every system's signaling and would hold all their clients'
        # joins: consent is required only where a test asks for it (test_browser_consent.py).
        env["RAPPORT_SIGNALING_CONSENT_REQUIRED"] = "false"
        env.update(self.overrides)
        if self.otlp_endpoint is not None:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = self.otlp_endpoint
            # Export within a fraction of a second, so a test waits on spans, not on batches.
            env["OTEL_BSP_SCHEDULE_DELAY"] = "200"
        # Browsers open signaling sockets from the gateway's origin (the web app's pages).
        env["RAPPORT_SIGNALING_ALLOWED_ORIGINS"] = json.dumps(
            [self.gateway_url, f"http://localhost:{self.ports['gateway']}"]
        )
        return env

    def _db(self, name: str) -> str:
        return f"e2e_{name}_{self.run_id}"

    def start(self) -> None:
        self.run_id = uuid.uuid4().hex[:8]
        self.ports = {name: free_port() for name in [*SERVICES, *self.signaling_names, "gateway"]}
        for name in SERVICES:
            self.postgres.create_database(self._db(name))  # type: ignore[attr-defined]
            self.databases.append(self._db(name))
        env = self.environment()
        for name in SERVICES:
            self.run_cli(name, "migrate")
        for name in SERVICES:
            self._spawn(name, [sys.executable, "-m", f"services.{name}", "serve"], env)
        for name in self.signaling_names[1:]:
            self.spawn_signaling(name, wait=False)
        self._spawn("gateway", [sys.executable, "-m", "gateway"], env)
        for name in [*SERVICES, *self.signaling_names[1:], "gateway"]:
            self._wait_ready(name)

    def spawn_signaling(self, name: str, *, wait: bool = True) -> None:
        """(Re)start one of the signaling processes; with ``wait``, until it holds its share
        of the rooms (its /readyz)."""
        env = {**self.environment(), "RAPPORT_SIGNALING_PORT": str(self.ports[name])}
        self._spawn(name, [sys.executable, "-m", "services.signaling", "serve"], env)
        if wait:
            self._wait_ready(name, path="/readyz")

    def signal(self, name: str, signum: int) -> None:
        """Send ``signum`` to one process (SIGKILL: it dies on the spot)."""
        self.processes[name].send_signal(signum)

    def wait_exit(self, name: str, timeout: float = 60.0) -> int:
        return self.processes[name].wait(timeout=timeout)

    def run_cli(self, service: str, *args: str) -> str:
        """Run an admin command of ``service`` with the system's configuration."""
        result = subprocess.run(
            [sys.executable, "-m", f"services.{service}", *args],
            env=self.environment(),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{service} {args} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> None:
        # Appended: a restarted process keeps the earlier run's lines for leaks().
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )

    def _wait_ready(self, name: str, timeout: float = 300.0, path: str = "/healthz") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.log(name)}")
            try:
                if httpx.get(f"{self.url(name)}{path}", timeout=5.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} not healthy in {timeout}s:\n{self.log(name)}")

    def stop_one(self, name: str) -> None:
        """Stop one service's process (SIGTERM, as an operator would) and wait for its exit."""
        process = self.processes[name]
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def start_again(self, name: str, **env: str) -> None:
        """Start a stopped service with ``env`` on top of the system's configuration; returns
        once it is healthy. Its log goes on from where the last run's ended."""
        command = [sys.executable, "-m", f"services.{name}", "serve"]
        self._spawn(name, command, {**self.environment(), **env})
        self._wait_ready(name)

    def restart(self, name: str, **env: str) -> None:
        """:meth:`stop_one` then :meth:`start_again`."""
        self.stop_one(name)
        self.start_again(name, **env)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else ""

    def must_never_log(self, what: str, value: str) -> None:
        """Register ``value`` (a token, a note's text) for :meth:`leaks` to look for."""
        self.secrets[value] = what

    def leaks(self) -> list[str]:
        """Where a registered secret, or anything shaped like a signed token, is in a log.

        Read after :meth:`stop`, when every process has written its last line.
        """
        found = []
        for path in sorted(self.log_dir.glob("*.log")):
            for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                named = [what for value, what in self.secrets.items() if value in line]
                if JWT_SHAPE.search(line):
                    named.append("a signed token (JWT)")
                found += [f"{path.name}:{number}: {what}" for what in named]
        return found

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for name in self.databases:
            self.postgres.drop_database(name)  # type: ignore[attr-defined]
