"""Signaling fixtures: a real uvicorn server in this process, real tokens, a migrated SQLite file.

The server is configured exactly as ``python -m services.signaling serve`` configures it
(``server_config``), and tests talk to it with the ``websockets`` client library, the way a
browser would. Kafka is not needed: it points at a closed port, so events stay in the outbox,
where the tests read them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import websockets
from fastapi import FastAPI
from sqlmodel import col, select

from services.signaling.app import create_app, server_config
from services.signaling.events import build_router
from services.signaling.schemas import SUBPROTOCOL
from services.signaling.settings import SignalingSettings
from shared.db import Database
from shared.events.catalog import AppointmentScheduled
from shared.events.envelope import Envelope, decode, encode
from shared.events.outbox import OutboxMessage
from shared.migrations import upgrade
from tests.support.tokens import TestTokenIssuer

MIGRATIONS = Path(__file__).resolve().parents[3] / "services" / "signaling" / "migrations"


@pytest.fixture
def issuer() -> TestTokenIssuer:
    return TestTokenIssuer()


@pytest.fixture
async def migrated_database(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty signaling database in this test's tmp_path."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'signaling.db'}"
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    database = Database(url)
    yield database
    await database.dispose()


def settings_for(tmp_path: Path, **overrides: Any) -> SignalingSettings:
    """Settings for a test: a database in tmp_path, Kafka on a port where nothing listens."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'signaling.db'}",
        "kafka_bootstrap": "127.0.0.1:1",
        "room_ownership": "local",
        "host": "127.0.0.1",
        "port": 0,
        **overrides,
    }
    return SignalingSettings(**values)


async def schedule(
    database: Database,
    *,
    clinician_id: uuid.UUID,
    client_id: uuid.UUID,
    session_id: uuid.UUID | None = None,
    starts_at: datetime | None = None,
    invited: list[uuid.UUID] | None = None,
) -> uuid.UUID:
    """Let signaling know about an appointment (starting now unless told otherwise), through
    its real event handler. ``invited`` guests fit in the call with the client."""
    session_id = session_id or uuid.uuid4()
    starts = starts_at or datetime.now(UTC)
    payload = AppointmentScheduled(
        appointment_id=uuid.uuid4(),
        session_id=session_id,
        clinician_id=clinician_id,
        client_id=client_id,
        starts_at=starts,
        ends_at=starts + timedelta(minutes=50),
        max_participants=2 + len(invited or []),
        invited_participant_ids=invited or [],
    )
    record = encode(payload, source="/rapport/records")
    envelope = decode(record.key, record.value, record.headers)
    async with database.unit_of_work() as session:
        await build_router().dispatch(session, envelope)
    return session_id


async def outbox_events(database: Database, session_id: uuid.UUID) -> list[Envelope]:
    """The events signaling has queued about ``session_id``, oldest first."""
    async with database.unit_of_work() as session:
        rows = (
            await session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.key == str(session_id).encode())
                .order_by(col(OutboxMessage.id))
            )
        ).all()
    return [decode(r.key, r.value, [(k, v.encode()) for k, v in r.headers]) for r in rows]


def short_types(events: list[Envelope]) -> list[str]:
    """``rapport.signaling.participant.joined.v1`` → ``participant.joined``."""
    return [e.type.removeprefix("rapport.signaling.").removesuffix(".v1") for e in events]


class Peer:
    """The signaling socket of one participant, as a browser would hold it."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, within: float = 5.0) -> dict[str, Any]:
        async with asyncio.timeout(within):
            message: dict[str, Any] = json.loads(await self.ws.recv())
        return message

    async def expect(self, message_type: str, within: float = 5.0) -> dict[str, Any]:
        message = await self.receive(within)
        assert message["type"] == message_type, message
        return message

    async def closed_with(self, within: float = 5.0) -> int | None:
        """Wait for the server to close the socket, failing on any message before that."""
        async with asyncio.timeout(within):
            try:
                unexpected = await self.ws.recv()
            except websockets.ConnectionClosed:
                return self.ws.close_code
        raise AssertionError(f"expected the socket to close, got {unexpected!r}")

    async def nothing_more(self, within: float = 0.3) -> None:
        try:
            async with asyncio.timeout(within):
                message = await self.ws.recv()
        except TimeoutError:
            return
        raise AssertionError(f"expected silence, got {message!r}")

    async def close(self) -> None:
        await self.ws.close()


@dataclass
class RunningSignaling:
    """A signaling server serving on a free local port."""

    app: FastAPI
    database: Database
    issuer: TestTokenIssuer
    url: str
    _peers: list[Peer]

    async def connect(self, *, subprotocols: list[str] | None = None) -> Peer:
        ws = await websockets.connect(
            self.url,
            subprotocols=[SUBPROTOCOL] if subprotocols is None else subprotocols,  # type: ignore[misc]
            compression=None,
            open_timeout=5,
        )
        peer = Peer(ws)
        self._peers.append(peer)
        return peer

    async def join(
        self, user_id: uuid.UUID, role: str, session_id: uuid.UUID, display_name: str = "Sam"
    ) -> tuple[Peer, dict[str, Any]]:
        """Connect and join with a valid signaling token; return the peer and the first reply."""
        peer = await self.connect()
        token = self.issuer.signaling(user_id, role, session_id)
        await peer.send({"type": "join", "token": token, "display_name": display_name})
        return peer, await peer.receive()

    async def schedule(
        self, clinician_id: uuid.UUID, client_id: uuid.UUID, starts_at: datetime | None = None
    ) -> uuid.UUID:
        return await schedule(
            self.database, clinician_id=clinician_id, client_id=client_id, starts_at=starts_at
        )

    async def events(self, session_id: uuid.UUID) -> list[Envelope]:
        return await outbox_events(self.database, session_id)


StartSignaling = Callable[..., Awaitable[RunningSignaling]]


@pytest.fixture
async def start_signaling(tmp_path: Path, issuer: TestTokenIssuer) -> AsyncIterator[StartSignaling]:
    """Start a signaling server (settings overridable per test); stopped after the test."""
    servers: list[tuple[uvicorn.Server, asyncio.Task[None], RunningSignaling]] = []

    async def start(**overrides: Any) -> RunningSignaling:
        settings = settings_for(tmp_path, **overrides)
        await asyncio.to_thread(upgrade, MIGRATIONS, settings.database_url)
        app = create_app(settings, key_source=issuer.key_source)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        server = uvicorn.Server(server_config(app, settings))
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        async with asyncio.timeout(10):
            while not server.started:
                assert not serving.done(), "signaling did not start"
                await asyncio.sleep(0.01)
        running = RunningSignaling(
            app=app,
            database=app.state.database,
            issuer=issuer,
            url=f"ws://127.0.0.1:{port}/v1/signal",
            _peers=[],
        )
        servers.append((server, serving, running))
        return running

    yield start
    for server, serving, running in servers:
        for peer in running._peers:
            await peer.close()
        server.should_exit = True
        await serving


@pytest.fixture
async def signaling(start_signaling: StartSignaling) -> RunningSignaling:
    """A signaling server with the default settings."""
    return await start_signaling()
