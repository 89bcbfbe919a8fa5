"""The composition root: everything identity needs, wired once per app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from aiokafka.errors import KafkaError
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from services.identity import api, events
from services.identity.passwords import PasswordHashing
from services.identity.service import IdentityService, TokenPolicy
from services.identity.settings import IdentitySettings
from services.identity.signing_keys import Keyring
from shared.db import Database
from shared.events.kafka import EventConsumer, EventPublisher
from shared.events.outbox import OutboxRelay
from shared.service_app import BackgroundTasks, build_service_app
from shared.tokens import KeySource, TokenVerifier

log = logging.getLogger(__name__)

SERVICE_NAME = "identity"


def build_identity_service(settings: IdentitySettings, database: Database) -> IdentityService:
    """The use cases over ``database`` (also what the CLI uses, without an HTTP app)."""
    policy = TokenPolicy.from_settings(settings)
    return IdentityService(
        passwords=PasswordHashing(),
        keyring=Keyring(database, retention=policy.key_retention),
        policy=policy,
    )


def create_app(settings: IdentitySettings, *, key_source: KeySource | None = None) -> FastAPI:
    """Identity's FastAPI app.

    ``key_source`` defaults to identity's own keyring, read from its database (identity never
    fetches its own JWKS over HTTP); tests may pass another source to trust other keys.
    """
    database = Database(settings.database_url)
    identity = build_identity_service(settings, database)
    verifier = TokenVerifier(
        key_source or identity.keyring,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )

    publisher = EventPublisher(settings.kafka_bootstrap, client_id=SERVICE_NAME)
    # The relay gets its own engine so that only the requests' commits wake it (see
    # _outbox_relay_loop for why OutboxRelay.run is not used directly).
    relay_database = Database(settings.database_url)
    relay = OutboxRelay(relay_database, publisher, batch_size=settings.outbox_batch_size)
    committed = asyncio.Event()
    database.on_commit(committed.set)
    background = BackgroundTasks()
    background.add("outbox-relay", _outbox_relay_loop(relay, committed, settings.outbox_batch_size))
    router = events.build_router()
    if router.topics:
        consumer = EventConsumer(
            name=SERVICE_NAME,
            router=router,
            database=database,
            publisher=publisher,
            bootstrap_servers=settings.kafka_bootstrap,
            max_attempts=settings.consumer_max_attempts,
            batch_size=settings.outbox_batch_size,
        )
        background.add("event-consumer", consumer.run)
        background.on_shutdown(consumer.close)
    background.on_shutdown(database.dispose)
    background.on_shutdown(relay_database.dispose)
    background.on_shutdown(publisher.close)

    app = build_service_app(
        name=SERVICE_NAME,
        settings=settings,
        background=background,
        checks={"database": database.ping},
        description="Accounts, credentials, signing keys, token issuing and the JWKS.",
    )
    app.state.database = database
    app.state.token_verifier = verifier
    app.state.identity = identity
    app.include_router(api.router)

    shared_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await _ensure_signing_key(database, identity)
        async with shared_lifespan(app):
            yield

    app.router.lifespan_context = lifespan
    return app


async def _ensure_signing_key(database: Database, identity: IdentityService) -> None:
    # Have a key before the first JWKS request. If the database is not there yet (or not
    # migrated), start anyway: /readyz says so, and the first login creates the key.
    try:
        async with database.unit_of_work() as session:
            await identity.ensure_signing_key(session)
    except SQLAlchemyError as exc:
        log.warning("no signing key ensured at startup: %s", type(exc).__name__)


def _outbox_relay_loop(
    relay: OutboxRelay,
    committed: asyncio.Event,
    batch_size: int,
    *,
    idle_poll_seconds: float = 0.5,
    max_backoff_seconds: float = 5.0,
) -> Callable[[], Coroutine[Any, Any, None]]:
    """``OutboxRelay.run`` as identity needs it until shared/ has the same fixes.

    Two differences. A cancel (shutdown) lands between batches, never inside one: cancelling
    a batch while its transaction is on an aiosqlite connection can leave the task waiting
    forever, which hung shutdown in the tests. And it wakes on the requests' commits only:
    ``OutboxRelay.run`` is also woken by its own empty batch's commit and so polls without
    pause. A database error is retried like a Kafka one instead of stopping the relay.
    """

    async def run() -> None:
        backoff = 0.1
        failing = False
        while True:
            committed.clear()
            batch = asyncio.ensure_future(relay.publish_pending())
            try:
                published = await asyncio.shield(batch)
            except asyncio.CancelledError:
                # Kafka's request timeout and SQLite's busy timeout bound this wait.
                with contextlib.suppress(Exception):
                    await batch
                raise
            except (KafkaError, OSError, TimeoutError, SQLAlchemyError) as exc:
                if not failing:
                    log.warning("outbox relay failing, events wait in the outbox: %s", exc)
                    failing = True
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, max_backoff_seconds)
                continue
            if failing:
                log.info("outbox relay publishing again")
                failing = False
            backoff = 0.1
            if published < batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(committed.wait(), idle_poll_seconds)

    return run
