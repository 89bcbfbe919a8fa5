"""What every service's ``create_app`` shares: logging, errors, health, metrics, tasks."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from shared.db import Database
from shared.errors import install_error_handlers
from shared.events.kafka import EventConsumer, EventPublisher, EventRouter
from shared.events.outbox import OutboxRelay
from shared.events.telemetry import instrument_consumer, instrument_outbox
from shared.forwarded import install_trusted_proxies
from shared.logging import configure_logging
from shared.observability import GraceCheck, Metrics, ReadinessCheck, install_observability
from shared.openapi import document_errors
from shared.settings import ServiceSettings
from shared.tracing import configure_tracing, instrument_app

log = logging.getLogger(__name__)


class BackgroundTasks:
    """Long-running loops (outbox relay, consumers) tied to the app's lifespan."""

    def __init__(self, *, grace_seconds: float = 10.0) -> None:
        self._factories: list[tuple[str, Callable[[], Coroutine[Any, Any, Any]]]] = []
        self._stoppers: list[Callable[[], None]] = []
        self._closers: list[Callable[[], Awaitable[Any]]] = []
        self._startup: list[Callable[[], Awaitable[Any]]] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._grace = grace_seconds
        # What the loops add to the app's readiness and metrics (build_service_app applies them).
        self.readiness: dict[str, ReadinessCheck] = {}
        self._instruments: list[Callable[[Metrics], None]] = []

    def add(
        self,
        name: str,
        factory: Callable[[], Coroutine[Any, Any, Any]],
        *,
        stop: Callable[[], None] | None = None,
    ) -> None:
        """Run ``factory()`` for the app's lifetime; ``stop`` asks it to finish gracefully."""
        self._factories.append((name, factory))
        if stop is not None:
            self._stoppers.append(stop)

    def instrument(self, hook: Callable[[Metrics], None]) -> None:
        """Call ``hook`` with the app's metrics once it has them (to add the loops' own)."""
        self._instruments.append(hook)

    def add_metrics_to(self, metrics: Metrics) -> None:
        for hook in self._instruments:
            hook(metrics)

    def on_startup(self, hook: Callable[[], Awaitable[Any]]) -> None:
        """Run ``hook`` once before the app serves (e.g. make sure a signing key exists)."""
        self._startup.append(hook)

    async def run_startup(self) -> None:
        for hook in self._startup:
            await hook()

    def on_shutdown(self, closer: Callable[[], Awaitable[Any]]) -> None:
        self._closers.append(closer)

    def start(self) -> None:
        for name, factory in self._factories:
            task = asyncio.create_task(factory(), name=name)
            task.add_done_callback(self._report_crash)
            self._tasks.append(task)

    @staticmethod
    def _report_crash(task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s stopped", task.get_name(), exc_info=task.exception())

    async def stop(self) -> None:
        """Ask every loop to finish, wait a bounded time, then cancel what is left.

        Graceful first: cancelling a loop in the middle of a database call can leave it
        waiting forever on the driver (seen with aiosqlite), and a half-done batch is wasted.
        """
        for stop in self._stoppers:
            stop()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self._grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=2.0)
        self._tasks.clear()
        for closer in reversed(self._closers):
            try:
                await closer()
            except (Exception, asyncio.CancelledError) as exc:
                # aiokafka's stop() re-raises the cancellation of its own fetch task when the
                # broker went away first; shutting down must go on regardless.
                log.warning("shutdown step failed: %s", type(exc).__name__)


def build_service_app(
    *,
    name: str,
    settings: ServiceSettings,
    background: BackgroundTasks,
    checks: dict[str, ReadinessCheck],
    version: str = "0.1.0",
    description: str = "",
) -> FastAPI:
    """A FastAPI app with Rapport's common wiring; the service adds its routers."""
    configure_logging(name, settings.log_level)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await background.run_startup()
        background.start()
        try:
            yield
        finally:
            await background.stop()

    app = FastAPI(
        title=f"Rapport {name}", version=version, description=description, lifespan=lifespan
    )
    app.state.settings = settings
    app.state.background = background
    install_error_handlers(app)
    document_errors(app)
    metrics = install_observability(
        app, name, {**checks, **background.readiness}, access_log=settings.access_log
    )
    background.add_metrics_to(metrics)
    if configure_tracing(name):
        instrument_app(app)
    # Last, so outermost: everything else sees the client's address as the policy decided.
    install_trusted_proxies(app, settings.trusted_proxies)
    return app


def add_event_pipeline(
    background: BackgroundTasks,
    *,
    service: str,
    settings: ServiceSettings,
    database: Database,
    router: EventRouter | None = None,
) -> EventPublisher:
    """Wire a service to Kafka: the outbox relay, and a consumer when ``router`` handles events.

    Both loops start with the app and retry in the background, so the service serves HTTP
    while Kafka is unreachable. Returns the publisher (also used for dead letters).
    """
    publisher = EventPublisher(settings.kafka_bootstrap, client_id=service)
    relay = OutboxRelay(database, publisher, batch_size=settings.outbox_batch_size)
    background.add("outbox-relay", relay.run, stop=relay.stop)
    background.readiness["kafka"] = GraceCheck(
        publisher.check, settings.kafka_readiness_grace_seconds
    )
    background.instrument(functools.partial(instrument_outbox, database=database))
    if router is not None and router.topics:
        consumer = EventConsumer(
            name=settings.consumer_group or service,
            router=router,
            database=database,
            publisher=publisher,
            bootstrap_servers=settings.kafka_bootstrap,
            max_attempts=settings.consumer_max_attempts,
            batch_size=settings.outbox_batch_size,
        )
        background.add("event-consumer", consumer.run, stop=consumer.stop)
        background.instrument(functools.partial(instrument_consumer, consumer=consumer))
        background.on_shutdown(consumer.close)
    # Closers run in reverse: the publisher closes after the consumer that dead-letters with it.
    background.on_shutdown(publisher.close)
    return publisher
