"""Fixtures for the records service: a migrated SQLite file, the real app, real tokens.

The app runs with its lifespan (relay and consumer retry against an unused port, so no Kafka
is needed); events are delivered by dispatching envelopes through the service's EventRouter
inside a unit of work, the way the consumer does.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import col, select

from services.records.app import create_app, migrate
from services.records.events import build_router
from services.records.models import AuditEntry
from services.records.settings import RecordsSettings
from services.records.timers import CompletionLoop
from shared.db import Database
from shared.events.catalog import Payload, UserRegistered, decode_payload
from shared.events.envelope import decode, encode
from shared.events.outbox import OutboxMessage
from tests.support.tokens import TestTokenIssuer

T0 = datetime(2030, 3, 4, 9, 0, tzinfo=UTC)


class Records:
    """The running records app and what tests do with it."""

    def __init__(self, app: FastAPI, client: httpx.AsyncClient, issuer: TestTokenIssuer) -> None:
        self.app = app
        self.http = client
        self.issuer = issuer
        self.database: Database = app.state.database
        self.roles: dict[uuid.UUID, str] = {}
        # The consumer's handlers, with the app's billing table (from its settings).
        self.router = build_router(app.state.billing_table)

    async def deliver(self, *payloads: Payload, source: str = "/rapport/signaling") -> None:
        """Apply events one by one, each in its own unit of work (a batch of one)."""
        for payload in payloads:
            await self.deliver_batch(payload, source=source)

    async def deliver_batch(self, *payloads: Payload, source: str = "/rapport/signaling") -> None:
        """Apply events in one unit of work, as the consumer applies a polled batch."""
        envelopes = [
            decode(r.key, r.value, r.headers) for r in (encode(p, source=source) for p in payloads)
        ]
        async with self.database.unit_of_work() as db:
            for envelope in envelopes:
                await self.router.dispatch(db, envelope)

    async def register(self, role: str) -> uuid.UUID:
        """A new user known to records through a UserRegistered event."""
        user_id = uuid.uuid4()
        await self.deliver(
            UserRegistered(user_id=user_id, role=role, registered_at=T0),  # type: ignore[arg-type]
            source="/rapport/identity",
        )
        self.roles[user_id] = role
        return user_id

    def auth(self, user_id: uuid.UUID, role: str | None = None) -> dict[str, str]:
        token = self.issuer.issue(user_id, role or self.roles[user_id])
        return {"Authorization": f"Bearer {token}"}

    async def book(
        self,
        clinician: uuid.UUID,
        client: uuid.UUID,
        starts_at: datetime = T0,
        minutes: int = 50,
    ) -> httpx.Response:
        return await self.http.post(
            "/v1/appointments",
            json={
                "client_id": str(client),
                "starts_at": starts_at.isoformat(),
                "ends_at": (starts_at + timedelta(minutes=minutes)).isoformat(),
            },
            headers=self.auth(clinician),
        )

    async def set_hours(
        self,
        clinician: uuid.UUID,
        weekdays: tuple[str, ...] = (
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
        ),
        start: str = "09:00",
        end: str = "17:00",
        time_zone: str = "UTC",
    ) -> dict[str, Any]:
        """The clinician's weekly hours: the same hours on each of ``weekdays``."""
        response = await self.http.put(
            "/v1/availability",
            json={
                "time_zone": time_zone,
                "weekly_hours": [{"weekday": d, "start": start, "end": end} for d in weekdays],
            },
            headers=self.auth(clinician),
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def booked_session(
        self, clinician: uuid.UUID, client: uuid.UUID, starts_at: datetime = T0
    ) -> uuid.UUID:
        response = await self.book(clinician, client, starts_at)
        assert response.status_code == 201, response.text
        return uuid.UUID(response.json()["session_id"])

    async def relate(self, clinician: uuid.UUID, client: uuid.UUID) -> dict[str, Any]:
        """Start (or fetch) the clinician's care relationship with the client."""
        response = await self.http.post(
            "/v1/care-relationships", json={"client_id": str(client)}, headers=self.auth(clinician)
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    async def propose_goal(
        self, clinician: uuid.UUID, client: uuid.UUID, statement: str = "Sleep before midnight"
    ) -> dict[str, Any]:
        """The clinician proposes a goal in their (started) relationship with the client."""
        await self.relate(clinician, client)
        response = await self.http.post(
            "/v1/goals",
            json={"client_id": str(client), "statement": statement},
            headers=self.auth(clinician),
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def set_goal(self, clinician: uuid.UUID, client: uuid.UUID) -> dict[str, Any]:
        """An active goal: proposed by the clinician, agreed to by the client."""
        goal = await self.propose_goal(clinician, client)
        response = await self.http.post(
            f"/v1/goals/{goal['id']}/agreement", headers=self.auth(client)
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def settle(self) -> int:
        """Announce every ended session now, as the completion loop does once a record has
        not changed for the settling time."""
        loop = CompletionLoop(
            self.database, 0, clock=lambda: datetime.now(UTC) + timedelta(hours=1)
        )
        return await loop.tick()

    async def outbox(self, payload_type: type[Payload]) -> list[Any]:
        """The payloads of the outbox rows of one event type, oldest first."""
        event_type = payload_type.model_fields["type"].default
        async with self.database.unit_of_work() as db:
            rows = (
                await db.exec(
                    select(OutboxMessage)
                    .where(OutboxMessage.event_type == event_type)
                    .order_by(col(OutboxMessage.id))
                )
            ).all()
        return [decode_payload(row.event_type, json.loads(row.value)) for row in rows]

    async def outbox_values(self) -> list[bytes]:
        async with self.database.unit_of_work() as db:
            return [bytes(v) for v in (await db.exec(select(OutboxMessage.value))).all()]

    async def seal(self) -> int:
        """Run the app's audit sealer now, as its loop does every ``audit_seal_seconds``."""
        sealed: int = await self.app.state.audit_sealer.seal()
        return sealed

    async def audit_entries(self) -> list[AuditEntry]:
        """Every audit entry, once the sealer has chained what was committed so far."""
        await self.seal()
        async with self.database.unit_of_work() as db:
            return list((await db.exec(select(AuditEntry).order_by(col(AuditEntry.id)))).all())


async def migrated_database(directory: Path) -> str:
    url = f"sqlite+aiosqlite:///{directory / 'records.db'}"
    # Alembic's env runs its own event loop, so it cannot run on the test's loop.
    await asyncio.to_thread(migrate, url)
    return url


@asynccontextmanager
async def running_records(
    database_url: str, *, client: tuple[str, int] = ("127.0.0.1", 123), **settings: Any
) -> AsyncIterator[Records]:
    """The records app on a migrated database, with its lifespan, called in-process from
    ``client``'s address."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": database_url,
        "kafka_bootstrap": "127.0.0.1:1",  # nothing listens: relay and consumer keep retrying
        # The app's own reminder loop ticks once at start; tests drive theirs with a clock.
        "reminder_poll_seconds": 3600,
        "completion_poll_seconds": 3600,
        "audit_seal_seconds": 3600,
    }
    issuer = TestTokenIssuer()
    app = create_app(RecordsSettings(**{**values, **settings}), key_source=issuer.key_source)
    transport = httpx.ASGITransport(app=app, client=client)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://records") as http,
    ):
        yield Records(app, http, issuer)


@pytest.fixture
async def records(tmp_path: Path) -> AsyncIterator[Records]:
    """A clinic that keeps all it may (chat transcripts too), so every route has data."""
    database_url = await migrated_database(tmp_path)
    async with running_records(database_url, keep_chat_transcripts=True) as running:
        yield running
