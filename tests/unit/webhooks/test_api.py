"""Endpoint management over HTTP: who may, what is accepted, what is refused, what is shown."""

from __future__ import annotations

import base64
import uuid

import pytest

from tests.unit.webhooks.conftest import RunningService, StartService

ENDPOINTS = "/v1/webhook-endpoints"
SESSION_COMPLETED = "rapport.records.session.completed.v1"


@pytest.fixture
async def webhooks(start_service: StartService) -> RunningService:
    return await start_service(background=False)


async def test_registration_returns_the_secret_once(webhooks: RunningService) -> None:
    headers = webhooks.auth()
    created = await webhooks.register(
        "http://127.0.0.1:9/hooks", ["session.*", SESSION_COMPLETED], headers
    )

    assert created["url"] == "http://127.0.0.1:9/hooks"
    assert created["event_types"] == ["session.*", SESSION_COMPLETED]
    assert created["description"] == "test"
    assert created["secret"].startswith("whsec_")
    assert len(base64.b64decode(created["secret"].removeprefix("whsec_"))) == 32
    listed = (await webhooks.http.get(ENDPOINTS, headers=headers)).json()
    assert [e["id"] for e in listed] == [created["id"]]
    assert "secret" not in listed[0]
    fetched = (await webhooks.http.get(f"{ENDPOINTS}/{created['id']}", headers=headers)).json()
    assert fetched["id"] == created["id"]
    assert "secret" not in fetched


async def test_each_endpoint_gets_its_own_secret(webhooks: RunningService) -> None:
    first = await webhooks.register("http://127.0.0.1:9/a", ["*"])
    second = await webhooks.register("http://127.0.0.1:9/b", ["*"])

    assert first["secret"] != second["secret"]


@pytest.mark.parametrize(
    ("role", "scopes", "allowed"),
    [
        ("admin", "", True),
        ("client", "webhooks:manage", True),
        ("clinician", "webhooks:manage records:read", True),
        ("client", "", False),
        ("clinician", "", False),
        ("client", "records:read", False),
    ],
)
async def test_managing_endpoints_needs_admin_or_the_manage_scope(
    webhooks: RunningService, role: str, scopes: str, allowed: bool
) -> None:
    headers = webhooks.auth(role=role, scopes=scopes)
    body = {"url": "http://127.0.0.1:9/hooks", "event_types": ["*"], "description": ""}

    created = await webhooks.http.post(ENDPOINTS, json=body, headers=headers)
    listed = await webhooks.http.get(ENDPOINTS, headers=headers)

    if allowed:
        assert (created.status_code, listed.status_code) == (201, 200)
    else:
        assert (created.status_code, listed.status_code) == (403, 403)
        assert created.json()["error"] == "Forbidden"


async def test_calls_without_a_valid_token_are_unauthorized(webhooks: RunningService) -> None:
    missing = await webhooks.http.get(ENDPOINTS)
    garbage = await webhooks.http.get(ENDPOINTS, headers={"Authorization": "Bearer nope"})

    assert missing.status_code == 401
    assert garbage.status_code == 401


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8004/hooks",
        "http://localhost/hooks",
        "https://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "http://172.16.5.5/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://0.0.0.0/hooks",
        "http://224.0.0.1/hooks",
        "http://100.64.0.1/hooks",
    ],
)
async def test_private_destinations_are_refused_by_default(
    start_service: StartService, url: str
) -> None:
    webhooks = await start_service(background=False, allow_private_urls=False)

    response = await webhooks.http.post(
        ENDPOINTS, json={"url": url, "event_types": ["*"]}, headers=webhooks.auth()
    )

    assert response.status_code == 422, response.text
    assert response.json()["error"] == "DestinationRefused"
    assert "not a public address" in response.json()["detail"]


async def test_public_destinations_are_accepted_by_default(start_service: StartService) -> None:
    webhooks = await start_service(background=False, allow_private_urls=False)

    response = await webhooks.http.post(
        ENDPOINTS,
        json={"url": "https://93.184.216.34/hooks", "event_types": ["*"]},
        headers=webhooks.auth(),
    )

    assert response.status_code == 201, response.text


async def test_private_destinations_are_allowed_when_the_operator_says_so(
    start_service: StartService,
) -> None:
    webhooks = await start_service(background=False, allow_private_urls=True)

    response = await webhooks.http.post(
        ENDPOINTS,
        json={"url": "http://127.0.0.1:8004/hooks", "event_types": ["*"]},
        headers=webhooks.auth(),
    )

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "url",
    [
        "ftp://partner.example/hooks",
        "javascript:alert(1)",
        "partner.example/hooks",
        "http:///nohost",
        "https://user:pw@partner.example/hooks",
        "http://host:99999/x",
    ],
)
async def test_urls_that_are_not_plain_http_are_refused(webhooks: RunningService, url: str) -> None:
    response = await webhooks.http.post(
        ENDPOINTS, json={"url": url, "event_types": ["*"]}, headers=webhooks.auth()
    )

    assert response.status_code == 422, response.text
    assert response.json()["error"] == "DestinationRefused"


@pytest.mark.parametrize(
    "event_types",
    [
        ["rapport.records.session.completed.v2"],
        ["sessions.*"],
        ["call.quality"],  # in the catalog, not offered
        ["*", "no.such.event"],
    ],
)
async def test_unknown_event_types_are_refused(
    webhooks: RunningService, event_types: list[str]
) -> None:
    response = await webhooks.http.post(
        ENDPOINTS,
        json={"url": "http://127.0.0.1:9/hooks", "event_types": event_types},
        headers=webhooks.auth(),
    )

    assert response.status_code == 422, response.text
    assert response.json()["error"] == "UnknownEventType"


@pytest.mark.parametrize("event_types", [[], [""], ["  "]])
async def test_an_endpoint_must_subscribe_to_something(
    webhooks: RunningService, event_types: list[str]
) -> None:
    response = await webhooks.http.post(
        ENDPOINTS,
        json={"url": "http://127.0.0.1:9/hooks", "event_types": event_types},
        headers=webhooks.auth(),
    )

    assert response.status_code == 422, response.text
    assert response.json()["error"] == "InvalidRequest"


async def test_malformed_bodies_get_a_clear_422(webhooks: RunningService) -> None:
    response = await webhooks.http.post(
        ENDPOINTS, json={"url": 5, "event_types": "session.*"}, headers=webhooks.auth()
    )

    assert response.status_code == 422
    fields = {p["field"] for p in response.json()["problems"]}
    assert {"body.url", "body.event_types"} <= fields


async def test_callers_see_only_their_own_endpoints(webhooks: RunningService) -> None:
    alice = webhooks.auth(role="client", scopes="webhooks:manage", subject="partner-alice")
    bob = webhooks.auth(role="client", scopes="webhooks:manage", subject="partner-bob")
    alices = await webhooks.register("http://127.0.0.1:9/alice", ["*"], alice)
    await webhooks.register("http://127.0.0.1:9/bob", ["*"], bob)

    listed = (await webhooks.http.get(ENDPOINTS, headers=alice)).json()
    bobs_view = await webhooks.http.get(f"{ENDPOINTS}/{alices['id']}", headers=bob)
    bobs_log = await webhooks.http.get(f"{ENDPOINTS}/{alices['id']}/deliveries", headers=bob)
    bobs_delete = await webhooks.http.delete(f"{ENDPOINTS}/{alices['id']}", headers=bob)

    assert [e["url"] for e in listed] == ["http://127.0.0.1:9/alice"]
    assert bobs_view.status_code == 404
    assert bobs_view.json()["error"] == "EndpointNotFound"
    assert bobs_log.status_code == 404
    assert bobs_delete.status_code == 404
    still_there = await webhooks.http.get(f"{ENDPOINTS}/{alices['id']}", headers=alice)
    assert still_there.status_code == 200


async def test_deleted_endpoints_are_gone(webhooks: RunningService) -> None:
    headers = webhooks.auth()
    created = await webhooks.register("http://127.0.0.1:9/hooks", ["*"], headers)

    deleted = await webhooks.http.delete(f"{ENDPOINTS}/{created['id']}", headers=headers)
    again = await webhooks.http.delete(f"{ENDPOINTS}/{created['id']}", headers=headers)

    assert deleted.status_code == 204
    assert again.status_code == 404
    assert (
        await webhooks.http.get(f"{ENDPOINTS}/{created['id']}", headers=headers)
    ).status_code == 404
    assert (await webhooks.http.get(ENDPOINTS, headers=headers)).json() == []


async def test_unknown_and_malformed_ids_are_clear_client_errors(webhooks: RunningService) -> None:
    headers = webhooks.auth()

    unknown = await webhooks.http.get(f"{ENDPOINTS}/{uuid.uuid4()}", headers=headers)
    malformed = await webhooks.http.get(f"{ENDPOINTS}/not-a-uuid", headers=headers)

    assert unknown.status_code == 404
    assert malformed.status_code == 422
