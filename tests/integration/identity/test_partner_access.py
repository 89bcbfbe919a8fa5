"""The partner test: a client-credentials token from the real identity app, used on the real
webhooks app (and, where records enforces partner scopes, the records app).

Identity and webhooks each run on their own real PostgreSQL database and talk over a real Kafka
broker: identity's grant and revocation events reach webhooks through its outbox and the
``rapport.identity`` topic; appointment events are published to ``rapport.records`` as records
would. Webhooks verifies the partner's tokens with the keys identity's JWKS endpoint serves.

- A token with one scope is refused (403, naming the missing scope) where another is needed.
- A partner sees only its own endpoints, and receives only events about clinicians who granted
  it access; another clinician's appointments never reach it.
- Records (which learns accounts from identity's ``user.registered`` over Kafka) refuses an
  ``appointments:read`` token on goals and lists only the granting clinician's appointments.
- After a clinician revokes the grant, new tokens no longer name them and their new events
  are not delivered to the partner; records (hearing ``partner.access_revoked`` over Kafka)
  refuses the very token issued before the revocation, and after a re-grant believes only
  tokens issued after it.
- A client who registers with a clinician's invitation ends up in a care relationship with
  them in records (``invitation.accepted`` over Kafka), visible to both.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlmodel import select

from devservers.postgres.launcher import DatabaseAdmin
from services.identity.app import Identity
from services.identity.app import create_app as create_identity
from services.identity.settings import IdentitySettings
from services.records.app import create_app as create_records
from services.records.settings import RecordsSettings
from services.webhooks.app import create_app as create_webhooks
from services.webhooks.models import ClinicianGrant
from services.webhooks.settings import WebhooksSettings
from shared.events.catalog import AppointmentScheduled
from shared.events.envelope import encode
from shared.events.kafka import EventPublisher
from shared.migrations import upgrade

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "correct horse battery"
FORM = {"content-type": "application/x-www-form-urlencoded"}
# Events cross a real broker and two consumers; this bounds a wait, it is not a timing claim.
WITHIN_SECONDS = 30.0


class IdentityJwks:
    """The KeySource webhooks would get from ``JwksKeySource``: identity's served JWKS, fetched
    through identity's ASGI app instead of a socket."""

    def __init__(self, identity: httpx.AsyncClient) -> None:
        self._identity = identity
        self.fetches = 0

    async def get(self, kid: str) -> jwt.PyJWK | None:
        response = await self._identity.get("/.well-known/jwks.json")
        response.raise_for_status()
        self.fetches += 1
        keys = jwt.PyJWKSet.from_dict(response.json()).keys
        return next((key for key in keys if key.key_id == kid), None)


def _client(app: FastAPI, host: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.fixture
async def identity_database(
    postgres_server: DatabaseAdmin, fresh_database: str
) -> AsyncIterator[str]:
    """A second fresh database (``fresh_database`` is the webhooks one)."""
    name = f"t_partner_identity_{uuid.uuid4().hex[:16]}"
    postgres_server.create_database(name)
    try:
        yield postgres_server.async_url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
async def records_database(postgres_server: DatabaseAdmin) -> AsyncIterator[str]:
    name = f"t_partner_records_{uuid.uuid4().hex[:16]}"
    postgres_server.create_database(name)
    try:
        yield postgres_server.async_url(name)
    finally:
        postgres_server.drop_database(name)


@dataclass
class System:
    identity_app: FastAPI
    webhooks_app: FastAPI
    identity: httpx.AsyncClient
    webhooks: httpx.AsyncClient
    publisher: EventPublisher
    keys: IdentityJwks


@pytest.fixture
async def system(
    identity_database: str, fresh_database: str, kafka_bootstrap: str
) -> AsyncIterator[System]:
    await asyncio.to_thread(upgrade, ROOT / "services/identity/migrations", identity_database)
    await asyncio.to_thread(upgrade, ROOT / "services/webhooks/migrations", fresh_database)
    identity_app = create_identity(
        IdentitySettings(
            environment="test", database_url=identity_database, kafka_bootstrap=kafka_bootstrap
        )
    )
    publisher = EventPublisher(kafka_bootstrap, client_id=f"records-stand-in-{uuid.uuid4().hex}")
    async with (
        identity_app.router.lifespan_context(identity_app),
        _client(identity_app, "identity") as identity,
    ):
        keys = IdentityJwks(identity)
        webhooks_app = create_webhooks(
            WebhooksSettings(
                environment="test",
                database_url=fresh_database,
                kafka_bootstrap=kafka_bootstrap,
                allow_private_urls=True,
                # Nothing listens at the endpoints' URL: deliveries stay in the log, pending.
                retry_schedule_seconds=[3600.0],
                dispatcher_poll_seconds=0.2,
            ),
            key_source=keys,
        )
        async with (
            webhooks_app.router.lifespan_context(webhooks_app),
            _client(webhooks_app, "webhooks") as webhooks,
        ):
            try:
                yield System(identity_app, webhooks_app, identity, webhooks, publisher, keys)
            finally:
                await publisher.close()


async def _admin_token(system: System) -> str:
    service: Identity = system.identity_app.state.identity
    async with system.identity_app.state.database.unit_of_work() as session:
        await service.accounts.create_user(
            session, email="ops@example.com", password=PASSWORD, display_name="Ops", role="admin"
        )
    return await _login(system.identity, "ops@example.com")


async def _login(identity: httpx.AsyncClient, email: str) -> str:
    response = await identity.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def _clinician(identity: httpx.AsyncClient, email: str) -> tuple[uuid.UUID, str]:
    response = await identity.post(
        "/v1/auth/register",
        json={"email": email, "password": PASSWORD, "display_name": email, "role": "clinician"},
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"]), await _login(identity, email)


async def _partner_app(identity: httpx.AsyncClient, admin: str, scopes: list[str]) -> Any:
    response = await identity.post(
        "/v1/partner-apps", json={"name": "Partner", "scopes": scopes}, headers=_bearer(admin)
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _client_credentials(
    identity: httpx.AsyncClient, app: dict[str, Any], scope: str | None = None
) -> str:
    basic = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
    body = "grant_type=client_credentials" + (f"&scope={scope}" if scope else "")
    response = await identity.post(
        "/oauth/token", content=body, headers={**FORM, "authorization": f"Basic {basic}"}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def _book(publisher: EventPublisher, clinician_id: uuid.UUID) -> str:
    """Publish ``appointment.scheduled`` for the clinician as records would; its session id."""
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    payload = AppointmentScheduled(
        appointment_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        clinician_id=clinician_id,
        client_id=uuid.uuid4(),
        starts_at=starts,
        ends_at=starts + timedelta(minutes=50),
    )
    record = encode(payload, source="/rapport/records")
    await publisher.publish(payload.topic, record.key, record.value, record.headers)
    return str(payload.session_id)


async def _until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WITHIN_SECONDS
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.1)


async def _logged_sessions(system: System, endpoint_id: str, token: str) -> set[str]:
    response = await system.webhooks.get(
        f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=_bearer(token)
    )
    assert response.status_code == 200, response.text
    return {d["payload"]["data"]["session_id"] for d in response.json()}


async def _webhooks_grants(system: System, owner_id: str) -> set[uuid.UUID]:
    async with system.webhooks_app.state.database.unit_of_work() as session:
        rows = await session.exec(
            select(ClinicianGrant.clinician_id).where(ClinicianGrant.owner_id == owner_id)
        )
        return set(rows.all())


async def _register_endpoint(system: System, token: str) -> httpx.Response:
    return await system.webhooks.post(
        "/v1/webhook-endpoints",
        json={"url": "http://127.0.0.1:9/hooks", "event_types": ["appointment.*"]},
        headers=_bearer(token),
    )


async def test_a_partner_token_is_held_to_its_scopes_and_its_clinicians(system: System) -> None:
    identity = system.identity
    admin = await _admin_token(system)
    ehr = await _partner_app(identity, admin, ["appointments:read", "webhooks:manage"])
    scheduler = await _partner_app(identity, admin, ["appointments:read"])
    rival = await _partner_app(identity, admin, ["webhooks:manage"])
    granting, granting_token = await _clinician(identity, "granting@example.com")
    other, _ = await _clinician(identity, "other@example.com")
    granted = await identity.put(
        f"/v1/partner-apps/{ehr['client_id']}/grants/me", headers=_bearer(granting_token)
    )
    assert granted.status_code == 204

    ehr_token = await _client_credentials(identity, ehr)
    assert _claims(ehr_token)["clinicians"] == [str(granting)]
    assert _claims(ehr_token)["role"] == "partner"

    # One scope, an endpoint needing another: refused, and the answer names the scope.
    for narrow in (
        await _client_credentials(identity, scheduler),
        await _client_credentials(identity, ehr, scope="appointments:read"),
    ):
        refused = await _register_endpoint(system, narrow)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "Forbidden"
        assert "webhooks:manage" in refused.json()["detail"]
        listed = await system.webhooks.get("/v1/webhook-endpoints", headers=_bearer(narrow))
        assert listed.status_code == 403
    assert system.keys.fetches >= 1  # verified with the keys identity serves

    created = await _register_endpoint(system, ehr_token)
    assert created.status_code == 201, created.text
    endpoint_id = created.json()["id"]
    clinic = await _register_endpoint(system, admin)
    assert clinic.status_code == 201, clinic.text

    # Another partner app, even one allowed to manage webhooks, sees none of it.
    rival_token = await _client_credentials(identity, rival)
    rival_list = await system.webhooks.get("/v1/webhook-endpoints", headers=_bearer(rival_token))
    assert rival_list.status_code == 200
    assert rival_list.json() == []
    for path in ("", "/deliveries"):
        peek = await system.webhooks.get(
            f"/v1/webhook-endpoints/{endpoint_id}{path}", headers=_bearer(rival_token)
        )
        assert peek.status_code == 404, peek.text

    # The grant travels identity -> outbox -> Kafka -> webhooks.
    async def grant_arrived() -> bool:
        return await _webhooks_grants(system, ehr["client_id"]) == {granting}

    await _until(grant_arrived, "webhooks has the clinician's grant")
    mine = await _book(system.publisher, granting)
    theirs = await _book(system.publisher, other)

    async def clinic_has_both() -> bool:
        logged = await _logged_sessions(system, clinic.json()["id"], admin)
        return {mine, theirs} <= logged

    await _until(clinic_has_both, "the clinic endpoint logged both appointments")
    # Another clinic's (clinician's) appointment is invisible to the partner.
    assert await _logged_sessions(system, endpoint_id, ehr_token) == {mine}
    ehr_view = await system.webhooks.get(
        "/v1/webhook-endpoints/" + endpoint_id + "/deliveries", headers=_bearer(ehr_token)
    )
    assert str(other) not in ehr_view.text

    # The clinician revokes the grant.
    revoked = await identity.delete(
        f"/v1/partner-apps/{ehr['client_id']}/grants/me", headers=_bearer(granting_token)
    )
    assert revoked.status_code == 204
    assert _claims(await _client_credentials(identity, ehr))["clinicians"] == []

    async def grant_gone() -> bool:
        return await _webhooks_grants(system, ehr["client_id"]) == set()

    await _until(grant_gone, "webhooks forgot the revoked grant")
    after = await _book(system.publisher, granting)

    async def clinic_has_after() -> bool:
        return after in await _logged_sessions(system, clinic.json()["id"], admin)

    await _until(clinic_has_after, "the clinic endpoint logged the later appointment")
    assert await _logged_sessions(system, endpoint_id, ehr_token) == {mine}


@pytest.fixture
async def records(
    system: System, records_database: str, kafka_bootstrap: str
) -> AsyncIterator[httpx.AsyncClient]:
    await asyncio.to_thread(upgrade, ROOT / "services/records/migrations", records_database)
    app = create_records(
        RecordsSettings(
            environment="test", database_url=records_database, kafka_bootstrap=kafka_bootstrap
        ),
        key_source=system.keys,
    )
    async with app.router.lifespan_context(app), _client(app, "records") as client:
        yield client


async def _client_of(identity: httpx.AsyncClient, email: str) -> uuid.UUID:
    response = await identity.post(
        "/v1/auth/register",
        json={"email": email, "password": PASSWORD, "display_name": email, "role": "client"},
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


async def _booked(
    records: httpx.AsyncClient, clinician_token: str, client_id: uuid.UUID, hour: int
) -> str:
    """Book once records has heard of the client (``user.registered`` crosses Kafka)."""
    starts = (datetime.now(UTC) + timedelta(days=2)).replace(
        hour=hour, minute=0, second=0, microsecond=0
    )
    booking = {
        "client_id": str(client_id),
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(minutes=50)).isoformat(),
    }
    response: httpx.Response | None = None

    async def booked() -> bool:
        nonlocal response
        response = await records.post(
            "/v1/appointments", json=booking, headers=_bearer(clinician_token)
        )
        return response.status_code != 422 or response.json()["error"] != "UnknownClient"

    await _until(booked, "records knows the client")
    assert response is not None and response.status_code == 201, response and response.text
    appointment_id: str = response.json()["id"]
    return appointment_id


async def test_records_holds_a_partner_token_to_its_scope_and_its_clinicians(
    system: System, records: httpx.AsyncClient
) -> None:
    identity = system.identity
    admin = await _admin_token(system)
    reader = await _partner_app(identity, admin, ["appointments:read"])
    granting, granting_token = await _clinician(identity, "granting@example.com")
    _, other_token = await _clinician(identity, "other@example.com")
    mine = await _booked(records, granting_token, await _client_of(identity, "a@example.com"), 9)
    theirs = await _booked(records, other_token, await _client_of(identity, "b@example.com"), 10)
    granted = await identity.put(
        f"/v1/partner-apps/{reader['client_id']}/grants/me", headers=_bearer(granting_token)
    )
    assert granted.status_code == 204
    token = await _client_credentials(identity, reader)

    goals = await records.get("/v1/goals", headers=_bearer(token))
    listed = await records.get("/v1/appointments", headers=_bearer(token))

    assert goals.status_code == 403, goals.text
    assert "goals:read" in goals.json()["detail"]
    assert listed.status_code == 200, listed.text
    assert [a["id"] for a in listed.json()] == [mine]
    assert theirs not in listed.text

    # The clinician revokes the grant: the SAME token (its claim still names them) stops
    # seeing their appointments once records hears ``partner.access_revoked`` over Kafka.
    revoked = await identity.delete(
        f"/v1/partner-apps/{reader['client_id']}/grants/me", headers=_bearer(granting_token)
    )
    assert revoked.status_code == 204
    assert _claims(token)["clinicians"] == [str(granting)]

    async def records_refuses_the_old_token() -> bool:
        response = await records.get("/v1/appointments", headers=_bearer(token))
        assert response.status_code == 200, response.text
        return response.json() == []

    await _until(records_refuses_the_old_token, "records refuses the revoked clinician")
    fresh = await _client_credentials(identity, reader)
    assert (await records.get("/v1/appointments", headers=_bearer(fresh))).json() == []

    # A re-grant lets in tokens issued after it; the token from before the revocation stays
    # refused. (``iat`` has whole seconds: the re-granted token is issued a second later.)
    regranted = await identity.put(
        f"/v1/partner-apps/{reader['client_id']}/grants/me", headers=_bearer(granting_token)
    )
    assert regranted.status_code == 204
    await asyncio.sleep(1.1)
    later = await _client_credentials(identity, reader)
    assert _claims(later)["clinicians"] == [str(granting)]
    assert [
        a["id"] for a in (await records.get("/v1/appointments", headers=_bearer(later))).json()
    ] == [mine]
    assert (await records.get("/v1/appointments", headers=_bearer(token))).json() == []


async def test_an_accepted_invitation_links_client_and_clinician_in_records(
    system: System, records: httpx.AsyncClient
) -> None:
    """Identity's ``invitation.accepted`` crosses Kafka; records starts the relationship."""
    identity = system.identity
    clinician_id, clinician_token = await _clinician(identity, "inviting@example.com")
    invited = await identity.post(
        "/v1/invitations", json={"email": "ada@example.com"}, headers=_bearer(clinician_token)
    )
    assert invited.status_code == 201, invited.text
    registered = await identity.post(
        "/v1/auth/register",
        json={
            "email": "ada@example.com",
            "password": PASSWORD,
            "display_name": "Ada",
            "role": "client",
            "invitation": invited.json()["invitation"],
        },
    )
    assert registered.status_code == 201, registered.text
    client_id = registered.json()["id"]
    client_token = await _login(identity, "ada@example.com")

    async def linked() -> bool:
        response = await records.get("/v1/care-relationships", headers=_bearer(client_token))
        assert response.status_code == 200, response.text
        return bool(response.json())

    await _until(linked, "records started the care relationship")
    for token in (client_token, clinician_token):
        response = await records.get("/v1/care-relationships", headers=_bearer(token))
        [relationship] = response.json()
        assert (relationship["clinician_id"], relationship["client_id"]) == (
            str(clinician_id),
            client_id,
        )
        assert (relationship["started_via"], relationship["status"]) == ("invitation", "active")
    # The client reads their clinician's public profile; the clinician lists the client.
    profile = await identity.get(f"/v1/users/{clinician_id}", headers=_bearer(client_token))
    assert profile.status_code == 200, profile.text
    assert profile.json()["display_name"] == "inviting@example.com"
    assert profile.json()["email"] is None
    clients = await identity.get("/v1/users?role=client", headers=_bearer(clinician_token))
    assert [c["id"] for c in clients.json()] == [client_id]
