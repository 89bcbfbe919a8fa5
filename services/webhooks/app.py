"""The composition root of the webhooks service."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI

from services.webhooks import api, events
from services.webhooks.destinations import DestinationPolicy
from services.webhooks.dispatcher import Dispatcher
from services.webhooks.service import RetryPolicy
from services.webhooks.settings import WebhooksSettings
from shared.db import Database
from shared.service_app import BackgroundTasks, add_event_pipeline, build_service_app
from shared.tokens import JwksKeySource, KeySource, TokenVerifier

SERVICE_NAME = "webhooks"


def create_app(settings: WebhooksSettings, *, key_source: KeySource | None = None) -> FastAPI:
    """Wire the webhooks service: database, Kafka in and out, the dispatcher, the HTTP API."""
    database = Database(settings.database_url)
    background = BackgroundTasks()
    background.on_shutdown(database.dispose)
    destinations = DestinationPolicy(
        allow_private=settings.allow_private_urls,
        require_https=settings.environment == "production",
        allowed=tuple(settings.allowed_destinations),
    )
    # Redirects are not followed (a 3xx is a failed attempt) and proxy variables are ignored:
    # either could carry a request past the destination check to a private address.
    http_client = httpx.AsyncClient(
        timeout=settings.delivery_timeout_seconds, follow_redirects=False, trust_env=False
    )
    dispatcher = Dispatcher(
        database,
        http_client,
        destinations=destinations,
        retry_policy=RetryPolicy(
            schedule=settings.retry_schedule_seconds,
            jitter=settings.retry_jitter,
            disable_after=timedelta(seconds=settings.disable_failing_endpoint_after_seconds),
            max_retry_after_seconds=settings.max_retry_after_seconds,
        ),
        timeout_seconds=settings.delivery_timeout_seconds,
        poll_seconds=settings.dispatcher_poll_seconds,
        max_in_flight=settings.max_concurrent_deliveries,
        max_in_flight_per_endpoint=settings.max_concurrent_deliveries_per_endpoint,
    )
    # New deliveries are committed by the consumer; send them right away rather than at the
    # next poll. (The dispatcher's own commits do not notify, so it never wakes itself.)
    database.on_commit(dispatcher.wake)

    background.add("webhook-dispatcher", dispatcher.run, stop=dispatcher.stop)
    background.instrument(dispatcher.instrument)
    background.on_shutdown(http_client.aclose)
    add_event_pipeline(
        background,
        service=SERVICE_NAME,
        settings=settings,
        database=database,
        router=events.build_router(),
    )

    app = build_service_app(
        name=SERVICE_NAME,
        settings=settings,
        background=background,
        checks={"database": database.ping},
        description="Partner webhook endpoints and signed, retried deliveries.",
    )
    app.state.database = database
    app.state.destination_policy = destinations
    app.state.dispatcher = dispatcher
    app.state.secret_rotation_overlap = timedelta(seconds=settings.secret_rotation_overlap_seconds)
    app.state.token_verifier = TokenVerifier(
        key_source or JwksKeySource(settings.jwks_url),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )
    app.include_router(api.router)
    return app
