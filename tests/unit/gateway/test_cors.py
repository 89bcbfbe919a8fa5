"""CORS at the edge: an allow-list of partner origins, preflights answered by the gateway."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from gateway.cors import CorsPolicy
from tests.support.tokens import TestTokenIssuer
from tests.unit.gateway.conftest import EchoUpstream, asgi_gateway, gateway_settings

PARTNER = "https://ehr.example.org"
STRANGER = "https://evil.example.net"


def _preflight(
    origin: str, method: str = "POST", headers: str = "authorization, content-type"
) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }


@pytest.fixture
async def http(
    echo_upstream: EchoUpstream, token_issuer: TestTokenIssuer, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    overrides: dict[str, Any] = getattr(request, "param", {"cors_allow_origins": [PARTNER]})
    settings = gateway_settings(
        identity_url=echo_upstream.url, records_url=echo_upstream.url, **overrides
    )
    async with asgi_gateway(settings, token_issuer) as (_, client):
        yield client


@pytest.fixture
def bearer_of_someone(token_issuer: TestTokenIssuer) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_issuer.issue(uuid.uuid4(), 'clinician')}"}


async def test_a_preflight_from_a_partner_is_answered_at_the_edge(
    http: httpx.AsyncClient, echo_upstream: EchoUpstream
) -> None:
    response = await http.options("/v1/goals/preflighted", headers=_preflight(PARTNER))
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == PARTNER
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"]
    assert response.headers["access-control-max-age"] == "600"
    assert response.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    # No token needed, and the service never sees it.
    assert echo_upstream.requests_to("/v1/goals/preflighted") == []


@pytest.mark.parametrize(
    ("headers", "detail"),
    [
        (_preflight(STRANGER), "from this origin"),
        (_preflight(PARTNER, method="TRACE"), "method"),
        (_preflight(PARTNER, headers="authorization, x-admin-override"), "x-admin-override"),
    ],
)
async def test_other_preflights_are_refused_in_the_shared_shape(
    http: httpx.AsyncClient, headers: dict[str, str], detail: str
) -> None:
    response = await http.options("/v1/goals", headers=headers)
    assert response.status_code == 403
    assert response.json()["error"] == "CrossOriginRefused"
    assert detail in response.json()["detail"]
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["x-frame-options"] == "DENY"


async def test_answers_to_a_partner_may_be_read_by_its_pages(
    http: httpx.AsyncClient, bearer_of_someone: dict[str, str]
) -> None:
    response = await http.get("/v1/goals", headers={**bearer_of_someone, "Origin": PARTNER})
    refused = await http.get("/v1/goals", headers={"Origin": PARTNER})
    assert response.status_code == 200
    for answer in (response, refused):
        assert answer.headers["access-control-allow-origin"] == PARTNER
        assert answer.headers["vary"] == "Origin"
        assert "x-request-id" in answer.headers["access-control-expose-headers"]
        assert "retry-after" in answer.headers["access-control-expose-headers"]
    assert refused.status_code == 401


async def test_answers_to_a_stranger_carry_no_cors_headers(
    http: httpx.AsyncClient, bearer_of_someone: dict[str, str]
) -> None:
    response = await http.get("/v1/goals", headers={**bearer_of_someone, "Origin": STRANGER})
    same_origin = await http.get("/v1/goals", headers=bearer_of_someone)
    assert response.status_code == same_origin.status_code == 200
    for answer in (response, same_origin):
        assert "access-control-allow-origin" not in answer.headers
        assert answer.headers["vary"] == "Origin"


@pytest.mark.parametrize("http", [{}], indirect=True)
async def test_by_default_no_origin_is_allowed(
    http: httpx.AsyncClient, bearer_of_someone: dict[str, str]
) -> None:
    preflight = await http.options("/v1/goals", headers=_preflight(PARTNER))
    actual = await http.get("/v1/goals", headers={**bearer_of_someone, "Origin": PARTNER})
    assert preflight.status_code == 403
    assert actual.status_code == 200
    assert not [name for name in actual.headers if name.startswith("access-control-")]
    assert "vary" not in actual.headers


@pytest.mark.parametrize(
    "http",
    [{"cors_allow_origins": [PARTNER], "cors_allow_credentials": True}],
    indirect=True,
)
async def test_credentials_name_the_origin_exactly(http: httpx.AsyncClient) -> None:
    response = await http.options("/v1/goals", headers=_preflight(PARTNER.upper()))
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == PARTNER.upper()
    assert response.headers["access-control-allow-credentials"] == "true"


@pytest.mark.parametrize("http", [{"cors_allow_origins": ["*"]}], indirect=True)
async def test_the_wildcard_answers_any_origin_without_credentials(
    http: httpx.AsyncClient, bearer_of_someone: dict[str, str]
) -> None:
    response = await http.get("/v1/goals", headers={**bearer_of_someone, "Origin": STRANGER})
    preflight = await http.options("/v1/goals", headers=_preflight(STRANGER))
    for answer in (response, preflight):
        assert answer.headers["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in answer.headers


def test_the_policy_refuses_credentials_with_the_wildcard() -> None:
    with pytest.raises(ValueError, match="every origin"):
        CorsPolicy(["*"], allow_credentials=True)
