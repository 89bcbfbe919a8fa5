"""A partner's receiver goes down for the equivalent of 10 minutes; nothing is lost.

The webhooks service runs as its own process (``python -m services.webhooks serve``) on a real
PostgreSQL and a real Kafka broker, with the production schedule shortened 200 times
(5 s, 5 min, 30 min, ... become 25 ms, 1.5 s, 9 s, ...): a 10-minute outage lasts 3 s. In the
middle of the outage the service is killed (SIGKILL) and started again. Every event must
arrive, each under exactly one webhook-id, and no retry may come earlier than its schedule.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.events.envelope import encode
from shared.events.kafka import EventPublisher
from tests.support.tokens import TestTokenIssuer
from tests.unit.webhooks import factories

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
SCALE = 1 / 200
SCHEDULE = [5 * SCALE, 300 * SCALE, 1800 * SCALE, 7200 * SCALE, 18000 * SCALE]
JITTER = 0.1
OUTAGE_SECONDS = 600 * SCALE


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Partner:
    """The partner's receiver (up or down on a fixed port) and identity's JWKS stand-in."""

    port: int
    jwks: dict[str, Any]
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def hook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    @property
    def jwks_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/.well-known/jwks.json"

    async def _hook(self, request: Request) -> Response:
        self.received.append((request.headers["webhook-id"], json.loads(await request.body())))
        return Response(status_code=204)

    async def _keys(self, request: Request) -> Response:
        return JSONResponse(self.jwks)

    async def up(self) -> None:
        app = Starlette(
            routes=[
                Route("/hooks", self._hook, methods=["POST"]),
                Route("/.well-known/jwks.json", self._keys),
            ]
        )
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def down(self) -> None:
        """Stop listening: attempts now fail with "connection refused"."""
        assert self._server is not None and self._task is not None
        self._server.should_exit = True
        await self._task


@dataclass
class WebhooksProcess:
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.env['RAPPORT_WEBHOOKS_PORT']}"

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "services.webhooks", "migrate"],
            env=self.env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def spawn(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.webhooks", "serve"],
            env=self.env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    async def start(self) -> None:
        """Spawn the process and wait until it answers /healthz."""
        self.spawn()
        assert self.process is not None
        async with httpx.AsyncClient() as http:
            for _ in range(600):
                if self.process.poll() is not None:
                    raise RuntimeError(f"webhooks exited:\n{self.log()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/healthz", timeout=1.0)).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"webhooks did not become healthy:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: no graceful stop, nothing flushed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]


@pytest.fixture
def issuer() -> TestTokenIssuer:
    return TestTokenIssuer()


@pytest.fixture
async def partner(issuer: TestTokenIssuer) -> AsyncIterator[Partner]:
    state = Partner(port=free_port(), jwks=issuer.jwks)
    await state.up()
    try:
        yield state
    finally:
        if state._server is not None and not state._server.should_exit:
            await state.down()


@pytest.fixture
def webhooks(
    fresh_database: str, kafka_bootstrap: str, partner: Partner, tmp_path: Path
) -> Iterator[WebhooksProcess]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAPPORT_")}
    env.update(
        RAPPORT_ENVIRONMENT="test",
        RAPPORT_KAFKA_BOOTSTRAP=kafka_bootstrap,
        RAPPORT_JWKS_URL=partner.jwks_url,
        RAPPORT_LOG_LEVEL="INFO",
        RAPPORT_WEBHOOKS_PORT=str(free_port()),
        RAPPORT_WEBHOOKS_DATABASE_URL=fresh_database,
        RAPPORT_WEBHOOKS_ALLOW_PRIVATE_URLS="true",
        RAPPORT_WEBHOOKS_RETRY_SCHEDULE_SECONDS=json.dumps(SCHEDULE),
        RAPPORT_WEBHOOKS_RETRY_JITTER=str(JITTER),
        RAPPORT_WEBHOOKS_DISPATCHER_POLL_SECONDS="0.1",
        RAPPORT_WEBHOOKS_DELIVERY_TIMEOUT_SECONDS="2",
        # A group of its own: no consumer left in the group by an earlier test (or a process
        # of this one) shares the partitions out with it.
        RAPPORT_WEBHOOKS_CONSUMER_GROUP=f"webhooks-{uuid.uuid4().hex[:8]}",
    )
    service = WebhooksProcess(env, tmp_path / "webhooks.log")
    service.migrate()
    try:
        yield service
    finally:
        service.stop()


async def publish_sessions(publisher: EventPublisher, count: int) -> set[str]:
    """Publish ``count`` session.completed events as records would; their session ids."""
    ids = set()
    for _ in range(count):
        payload = factories.session_completed()
        record = encode(payload, source="/rapport/records")
        await publisher.publish(payload.topic, record.key, record.value, record.headers)
        ids.add(str(payload.session_id))
    return ids


async def until(
    condition: Any, *, within: float, what: str, service: WebhooksProcess | None = None
) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            told = f"\nthe webhooks service's log:\n{service.log()}" if service else ""
            raise AssertionError(f"timed out waiting until {what}{told}")
        await asyncio.sleep(0.05)


async def test_an_outage_and_a_killed_service_lose_and_duplicate_nothing(
    webhooks: WebhooksProcess, partner: Partner, issuer: TestTokenIssuer, kafka_bootstrap: str
) -> None:
    await webhooks.start()
    auth = {"Authorization": f"Bearer {issuer.issue(uuid.uuid4(), 'admin')}"}
    async with httpx.AsyncClient(base_url=webhooks.url, headers=auth) as http:
        created = await http.post(
            "/v1/webhook-endpoints",
            json={"url": partner.hook_url, "event_types": ["session.completed"]},
        )
        assert created.status_code == 201, created.text
        endpoint_id = created.json()["id"]

        async def log() -> list[dict[str, Any]]:
            response = await http.get(
                f"/v1/webhook-endpoints/{endpoint_id}/deliveries", params={"limit": 200}
            )
            assert response.status_code == 200, response.text
            deliveries: list[dict[str, Any]] = response.json()
            return deliveries

        def arrived(sessions: set[str]) -> set[str]:
            return {body["data"]["session_id"] for _, body in partner.received} & sessions

        publisher = EventPublisher(kafka_bootstrap, client_id="records-stand-in")
        try:
            # Before the outage: delivered at once.
            before = await publish_sessions(publisher, 3)

            async def before_arrived() -> bool:
                return arrived(before) == before

            await until(before_arrived, within=60, what="the first events arrive", service=webhooks)

            # The receiver goes down; events keep coming.
            await partner.down()
            outage_started = time.monotonic()
            during = await publish_sessions(publisher, 3)

            async def failing_and_waiting() -> bool:
                failing = [d for d in await log() if d["status"] == "pending"]
                return len(failing) >= 3 and all(d["attempt_count"] >= 2 for d in failing)

            await until(
                failing_and_waiting, within=30, what="retries are under way", service=webhooks
            )

            # The service is killed mid-outage, and events arrive while it is dead.
            webhooks.kill()
            while_dead = await publish_sessions(publisher, 3)
            await webhooks.start()

            await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_started)))
            await partner.up()
            everything = before | during | while_dead

            async def all_arrived() -> bool:
                return arrived(everything) == everything

            await until(
                all_arrived,
                within=120,
                what="every event arrives after the outage",
                service=webhooks,
            )
            await asyncio.sleep(1.0)  # room for any (wrong) duplicate to show up
            deliveries = [
                d for d in await log() if d["payload"]["data"]["session_id"] in everything
            ]
        finally:
            await publisher.close()

    # Every event arrived; each under one webhook-id (the receiver's dedupe key), so after
    # dedupe the partner holds exactly one copy of each.
    ids_by_session: dict[str, set[str]] = defaultdict(set)
    copies: dict[str, int] = defaultdict(int)
    for webhook_id, body in partner.received:
        if body["data"]["session_id"] in everything:
            ids_by_session[body["data"]["session_id"]].add(webhook_id)
            copies[webhook_id] += 1
    assert set(ids_by_session) == everything
    assert all(len(ids) == 1 for ids in ids_by_session.values()), ids_by_session
    assert all(n >= 1 for n in copies.values())
    # Nothing was re-sent: the receiver was only reachable for the successful attempts.
    assert all(n == 1 for n in copies.values()), copies

    # The log shows every attempt, and no retry came earlier than the schedule allows, even
    # across the kill and restart.
    assert len(deliveries) == len(everything)
    assert all(d["status"] == "delivered" for d in deliveries)
    # When the receiver answered again: the first success among the outage's deliveries.
    recovered_at = min(
        datetime.fromisoformat(d["attempts"][-1]["at"])
        for d in deliveries
        if len(d["attempts"]) > 1
    )
    for delivery in deliveries:
        attempts = delivery["attempts"]
        assert [a["attempt_number"] for a in attempts] == list(range(1, len(attempts) + 1))
        assert attempts[-1]["status_code"] == 204
        assert all(a["status_code"] is None and a["error"] for a in attempts[:-1])
        starts = [datetime.fromisoformat(a["at"]) for a in attempts]
        for n, (earlier, later) in enumerate(zip(starts, starts[1:], strict=False)):
            if later >= recovered_at:
                # The first success after the outage brings the endpoint's backlog forward:
                # this attempt was sent because the receiver is back, not on the schedule.
                continue
            lower_bound = timedelta(seconds=SCHEDULE[n] * (1 - JITTER))
            assert later - earlier >= lower_bound, (delivery["id"], n, later - earlier)
    # The events of the outage needed retries that spanned the restart.
    assert all(
        len(d["attempts"]) >= 3 for d in deliveries if d["payload"]["data"]["session_id"] in during
    )
