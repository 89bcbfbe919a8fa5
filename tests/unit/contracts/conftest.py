"""Every service and the gateway, served for real on loopback, with a real principal's token.

Each app runs under uvicorn on its own event loop in a thread (schemathesis calls them with
blocking requests) on a freshly migrated SQLite file; Kafka is unreachable on purpose (port
1): outboxes fill and relays retry in the background, as when the broker is down.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app as create_gateway
from gateway.settings import GatewaySettings
from services.identity.app import create_app as create_identity
from services.identity.settings import IdentitySettings
from services.notifications.app import create_app as create_notifications
from services.notifications.settings import NotificationsSettings
from services.records.app import create_app as create_records
from services.records.app import migrate as migrate_records
from services.records.events import build_router as records_events
from services.records.settings import RecordsSettings
from services.signaling.app import create_app as create_signaling
from services.signaling.settings import SignalingSettings
from services.webhooks.app import create_app as create_webhooks
from services.webhooks.settings import WebhooksSettings
from shared.events.catalog import UserRegistered
from shared.events.envelope import decode, encode
from shared.migrations import upgrade
from shared.tokens import KeySource
from tests.support.threaded_server import ThreadedServer
from tests.support.tokens import TestTokenIssuer

ROOT = Path(__file__).resolve().parents[3]
NO_KAFKA = "127.0.0.1:1"
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Target:
    """A served app and the bearer token of its principal."""

    server: ThreadedServer
    token: str

    @property
    def url(self) -> str:
        return self.server.url


def sqlite_url(directory: Path, name: str) -> str:
    return f"sqlite+aiosqlite:///{directory / f'{name}.db'}"


def serve(app: Any) -> ThreadedServer:
    return ThreadedServer(app).start()


def identity_app(directory: Path) -> Any:
    return create_identity(IdentitySettings(**_common(directory, "identity", None)))


def _common(directory: Path, service: str, jwks_url: str | None) -> dict[str, Any]:
    """Settings every service here shares: a migrated SQLite file, no Kafka, and where the
    keys are (identity's JWKS behind the gateway; ``key_source`` otherwise)."""
    url = sqlite_url(directory, service)
    if service == "records":
        migrate_records(url)
    else:
        upgrade(ROOT / "services" / service / "migrations", url)
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": url,
        "kafka_bootstrap": NO_KAFKA,
    }
    if jwks_url is not None:
        values["jwks_url"] = jwks_url
    return values


def records_app(
    directory: Path, *, key_source: KeySource | None = None, jwks_url: str | None = None
) -> Any:
    settings = RecordsSettings(
        **_common(directory, "records", jwks_url),
        reminder_poll_seconds=3600,
        completion_poll_seconds=3600,
    )
    return create_records(settings, key_source=key_source)


def signaling_app(
    directory: Path, *, key_source: KeySource | None = None, jwks_url: str | None = None
) -> Any:
    settings = SignalingSettings(
        **_common(directory, "signaling", jwks_url),
        revocations_enabled=False,
        stun_urls=["stun:stun.example.com:3478"],
    )
    return create_signaling(settings, key_source=key_source)


def webhooks_app(
    directory: Path, *, key_source: KeySource | None = None, jwks_url: str | None = None
) -> Any:
    settings = WebhooksSettings(
        **_common(directory, "webhooks", jwks_url),
        # Fuzzed endpoint URLs are never called: deliveries wait for a poll that never comes.
        dispatcher_poll_seconds=3600,
    )
    return create_webhooks(settings, key_source=key_source)


def notifications_app(
    directory: Path, *, key_source: KeySource | None = None, jwks_url: str | None = None
) -> Any:
    # No SMTP server and no Kafka here: nothing is ever due to be sent, only the API is fuzzed.
    settings = NotificationsSettings(**_common(directory, "notifications", jwks_url))
    return create_notifications(settings, key_source=key_source)


def signed_up_clinician(identity: ThreadedServer) -> tuple[uuid.UUID, str]:
    """A clinician who signed up and logged in through identity's API: (id, access token)."""
    email = f"clinician-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=identity.url) as http:
        registered = http.post(
            "/v1/auth/register",
            json={
                "email": email,
                "password": PASSWORD,
                "display_name": "Dr Fuzz",
                "role": "clinician",
            },
        )
        assert registered.status_code == 201, registered.text
        login = http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
    return uuid.UUID(registered.json()["id"]), login.json()["access_token"]


def make_known_to_records(records: ThreadedServer, app: Any, user_id: uuid.UUID) -> None:
    """Records learns of the user as from identity's UserRegistered event."""
    payload = UserRegistered(user_id=user_id, role="clinician", registered_at=datetime.now(UTC))  # type: ignore[arg-type]
    record = encode(payload, source="/rapport/identity")
    envelope = decode(record.key, record.value, record.headers)

    async def deliver() -> None:
        async with app.state.database.unit_of_work() as db:
            await records_events().dispatch(db, envelope)

    records.run(deliver())


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    server = serve(identity_app(tmp_path_factory.mktemp("identity")))
    _, token = signed_up_clinician(server)
    yield Target(server, token)
    server.stop()


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    issuer = TestTokenIssuer()
    app = records_app(tmp_path_factory.mktemp("records"), key_source=issuer.key_source)
    server = serve(app)
    clinician = uuid.uuid4()
    make_known_to_records(server, app, clinician)
    yield Target(server, issuer.issue(clinician, "clinician"))
    server.stop()


@pytest.fixture(scope="module")
def signaling(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    issuer = TestTokenIssuer()
    server = serve(
        signaling_app(tmp_path_factory.mktemp("signaling"), key_source=issuer.key_source)
    )
    token = issuer.signaling(uuid.uuid4(), "client", uuid.uuid4())
    yield Target(server, token)
    server.stop()


@pytest.fixture(scope="module")
def webhooks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    issuer = TestTokenIssuer()
    server = serve(webhooks_app(tmp_path_factory.mktemp("webhooks"), key_source=issuer.key_source))
    yield Target(server, issuer.issue(uuid.uuid4(), "admin"))
    server.stop()


@pytest.fixture(scope="module")
def notifications(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    issuer = TestTokenIssuer()
    server = serve(
        notifications_app(tmp_path_factory.mktemp("notifications"), key_source=issuer.key_source)
    )
    yield Target(server, issuer.issue(uuid.uuid4(), "admin"))
    server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    """The gateway in front of all five services; tokens are identity's own, checked against
    its JWKS by the gateway and each service as in production."""
    directory = tmp_path_factory.mktemp("gateway")
    identity = serve(identity_app(directory))
    jwks_url = f"{identity.url}/.well-known/jwks.json"
    records_application = records_app(directory, jwks_url=jwks_url)
    records = serve(records_application)
    signaling = serve(signaling_app(directory, jwks_url=jwks_url))
    webhooks = serve(webhooks_app(directory, jwks_url=jwks_url))
    notifications = serve(notifications_app(directory, jwks_url=jwks_url))
    user_id, token = signed_up_clinician(identity)
    make_known_to_records(records, records_application, user_id)
    gateway = serve(
        create_gateway(
            GatewaySettings(
                environment="test",
                identity_url=identity.url,
                records_url=records.url,
                signaling_urls=[signaling.url],
                webhooks_url=webhooks.url,
                notifications_url=notifications.url,
                revocations_enabled=False,
                jwks_url=jwks_url,
            )
        )
    )
    yield Target(gateway, token)
    servers = (gateway, notifications, webhooks, signaling, records, identity)
    # Each shutdown waits for its app's background loops: side by side, not one after another.
    for server in servers:
        server.request_stop()
    for server in servers:
        server.stop()
