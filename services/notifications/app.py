"""The composition root of the notifications service."""

from __future__ import annotations

import hashlib

import httpx
from fastapi import FastAPI

from services.notifications import api, events
from services.notifications.channels import Channel, EmailChannel
from services.notifications.contacts import IdentityContacts
from services.notifications.dispatcher import Dispatcher
from services.notifications.service import Notifier, RetryPolicy
from services.notifications.settings import NotificationsSettings
from shared.db import Database
from shared.service_app import BackgroundTasks, add_event_pipeline, build_service_app
from shared.service_key import DEVELOPMENT_SERVICE_KEY, service_key
from shared.tokens import JwksKeySource, KeySource, TokenVerifier

SERVICE_NAME = "notifications"


class UnsafeConfiguration(RuntimeError):
    """Production settings that would send mail in the clear or sign links with a public key."""


def _unsubscribe_key(settings: NotificationsSettings) -> bytes:
    if settings.unsubscribe_key is not None:
        return settings.unsubscribe_key.get_secret_value().encode()
    if settings.environment == "production":
        raise UnsafeConfiguration("RAPPORT_NOTIFICATIONS_UNSUBSCRIBE_KEY is required in production")
    return hashlib.sha256(b"unsubscribe:" + DEVELOPMENT_SERVICE_KEY.encode()).digest()


def _email_channel(settings: NotificationsSettings) -> EmailChannel:
    if settings.environment == "production" and settings.smtp_security == "none":
        raise UnsafeConfiguration("SMTP without TLS is for a local sink, never production")
    return EmailChannel(
        host=settings.smtp_host,
        port=settings.smtp_port,
        security=settings.smtp_security,
        username=settings.smtp_username or None,
        password=(settings.smtp_password.get_secret_value() if settings.smtp_password else None)
        or None,
        ca_file=settings.smtp_ca_file,
        timeout_seconds=settings.smtp_timeout_seconds,
    )


def create_app(
    settings: NotificationsSettings,
    *,
    key_source: KeySource | None = None,
    channel: Channel | None = None,
) -> FastAPI:
    """Wire the notifications service: database, Kafka in, identity's internal API, the
    channel, the dispatcher, the HTTP API. ``channel`` defaults to email over SMTP."""
    database = Database(settings.database_url)
    background = BackgroundTasks()
    background.on_shutdown(database.dispose)
    identity_client = httpx.AsyncClient(timeout=10.0, follow_redirects=False, trust_env=False)
    background.on_shutdown(identity_client.aclose)
    key = service_key(settings.identity_key, settings.environment)
    unsubscribe_key = _unsubscribe_key(settings)
    notifier = Notifier(
        settings,
        IdentityContacts(identity_client, base_url=settings.identity_url, service_key=key or ""),
        unsubscribe_key=unsubscribe_key,
    )
    dispatcher = Dispatcher(
        database,
        notifier,
        channel or _email_channel(settings),
        retry_policy=RetryPolicy(schedule=settings.retry_schedule_seconds),
        attempt_timeout_seconds=settings.smtp_timeout_seconds,
        poll_seconds=settings.dispatcher_poll_seconds,
        max_in_flight=settings.max_concurrent_sends,
    )
    # Notifications the consumer commits go out at once rather than at the next poll.
    database.on_commit(dispatcher.wake)
    background.add("notifications-dispatcher", dispatcher.run, stop=dispatcher.stop)
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
        description="Email to people: appointments, reminders, invitations, resets, escalations.",
    )
    app.state.database = database
    app.state.dispatcher = dispatcher
    app.state.notifier = notifier
    app.state.unsubscribe_key = unsubscribe_key
    app.state.token_verifier = TokenVerifier(
        key_source or JwksKeySource(settings.jwks_url),
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )
    app.include_router(api.router)
    return app
