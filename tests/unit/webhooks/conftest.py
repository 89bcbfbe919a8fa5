"""Fixtures for the webhooks service: a migrated SQLite file, the app, tokens, a real receiver."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlmodel.ext.asyncio.session import AsyncSession
from standardwebhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.webhooks.app import create_app
from services.webhooks.dispatcher import Dispatcher
from services.webhooks.models import WebhookEndpoint
from services.webhooks.settings import WebhooksSettings
from shared.db import Database
from shared.events.catalog import Payload
from shared.events.envelope import Envelope, decode, encode
from shared.migrations import upgrade
from tests.support.tokens import TestTokenIssuer

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "webhooks" / "migrations"
# Nothing listens on port 1: the relay and the consumer just retry in the background.
NO_KAFKA = "127.0.0.1:1"


async def add_catch_all_endpoint(session: AsyncSession) -> None:
    """A partner's endpoint subscribed to everything, at a port where nothing listens."""
    session.add(
        WebhookEndpoint(
            owner_id="partner", url="http://127.0.0.1:9/", event_types=["*"], secret="s"
        )
    )
    await session.flush()


def envelope_of(payload: Payload, *, event_id: str | None = None) -> Envelope:
    """The envelope a consumer would decode for ``payload``, through the real wire format."""
    record = encode(payload, source="/rapport/records", event_id=event_id)
    return decode(record.key, record.value, record.headers)


@pytest.fixture
def issuer() -> TestTokenIssuer:
    return TestTokenIssuer()


@pytest.fixture
async def database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'webhooks.db'}"
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    return url


def settings_for(database_url: str, **overrides: Any) -> WebhooksSettings:
    """Test settings: private URLs allowed (receivers run on loopback), quick retries."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "kafka_bootstrap": NO_KAFKA,
        "allow_private_urls": True,
        "retry_schedule_seconds": [0.05, 0.05, 0.05],
        "retry_jitter": 0.0,
        "dispatcher_poll_seconds": 0.05,
        "delivery_timeout_seconds": 5.0,
        **overrides,
    }
    return WebhooksSettings(**values)


@dataclass
class RunningService:
    """The webhooks app under test, with an HTTP client and helpers to act as its callers."""

    app: FastAPI
    http: httpx.AsyncClient
    issuer: TestTokenIssuer

    @property
    def database(self) -> Database:
        database: Database = self.app.state.database
        return database

    @property
    def dispatcher(self) -> Dispatcher:
        dispatcher: Dispatcher = self.app.state.dispatcher
        return dispatcher

    def auth(
        self, *, role: str = "admin", scopes: str = "", subject: str | None = None
    ) -> dict[str, str]:
        token = self.issuer.issue(subject or str(uuid.uuid4()), role, scopes=scopes)
        return {"Authorization": f"Bearer {token}"}

    async def register(
        self, url: str, event_types: list[str], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        response = await self.http.post(
            "/v1/webhook-endpoints",
            json={"url": url, "event_types": event_types, "description": "test"},
            headers=headers or self.auth(),
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body


StartService = Callable[..., Awaitable[RunningService]]


@pytest.fixture
async def start_service(database_url: str, issuer: TestTokenIssuer) -> AsyncIterator[StartService]:
    """Start the app (with its lifespan, so the dispatcher runs, unless background=False)."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(*, background: bool = True, **overrides: Any) -> RunningService:
            app = create_app(settings_for(database_url, **overrides), key_source=issuer.key_source)
            if background:
                await stack.enter_async_context(app.router.lifespan_context(app))
            else:
                stack.push_async_callback(app.state.database.dispose)
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://webhooks")
            )
            return RunningService(app, http, issuer)

        yield start


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    signature_valid: bool | None


@dataclass
class Receiver:
    """A partner's webhook receiver on a real local HTTP port.

    Each path answers with the statuses queued for it (then 200), optionally after a delay, and
    verifies signatures with ``standardwebhooks`` for paths it knows the secret of.
    """

    base_url: str = ""
    received: list[ReceivedRequest] = field(default_factory=list)
    statuses: dict[str, list[int]] = field(default_factory=dict)
    delays: dict[str, float] = field(default_factory=dict)
    # A path with a hold answers only once its event is set.
    holds: dict[str, asyncio.Event] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    # Extra headers on a path's answers (e.g. Retry-After, Location for a redirect).
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    # Requests being answered right now, and the most there ever were at once, per path.
    in_progress: dict[str, int] = field(default_factory=dict)
    peak_in_progress: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path}"

    def requests_to(self, path: str) -> list[ReceivedRequest]:
        return [r for r in self.received if r.path == path]

    async def handle(self, request: Request) -> Response:
        path = request.path_params["name"]
        body = await request.body()
        headers = dict(request.headers)
        valid: bool | None = None
        if path in self.secrets:
            try:
                Webhook(self.secrets[path]).verify(body, headers)
                valid = True
            except WebhookVerificationError:
                valid = False
        self.received.append(ReceivedRequest(path, headers, body, valid))
        self.arrived.set()
        self.in_progress[path] = self.in_progress.get(path, 0) + 1
        self.peak_in_progress[path] = max(
            self.peak_in_progress.get(path, 0), self.in_progress[path]
        )
        try:
            await asyncio.sleep(self.delays.get(path, 0.0))
            if path in self.holds:
                await self.holds[path].wait()
        finally:
            self.in_progress[path] -= 1
        if valid is False:
            return Response("bad signature", status_code=401)
        queued = self.statuses.get(path, [])
        return Response(
            status_code=queued.pop(0) if queued else 200, headers=self.headers.get(path)
        )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    app = Starlette(routes=[Route("/{name}", state.handle, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    state.base_url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        # Do not wait for handlers still sleeping on a "slow endpoint" delay.
        server.should_exit = server.force_exit = True
        await serving


async def eventually(
    condition: Callable[[], Awaitable[bool]], *, within: float = 5.0, interval: float = 0.02
) -> None:
    """Wait until ``condition`` holds, failing the test if it does not ``within`` seconds."""
    async with asyncio.timeout(within):
        # Polling on purpose: the condition is the state the service stored, read back.
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(interval)
