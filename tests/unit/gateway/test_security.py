"""Edge security: the token check and the headers every response leaves with."""

from __future__ import annotations

import uuid

import httpx
import pytest

from gateway.security import EdgeAuthenticator, SecurityHeaders, request_id_of
from shared.errors import Unauthorized
from shared.tokens import TokenVerifier
from tests.support.tokens import TestTokenIssuer
from tests.unit.gateway.conftest import EchoUpstream

USER = "3f1c0e7e-1111-4222-8333-944455556666"


def _tampered(token: str) -> str:
    header, claims, signature = token.split(".")
    flipped = "A" if signature[10] != "A" else "B"
    return ".".join([header, claims, signature[:10] + flipped + signature[11:]])


def _authenticator(issuer: TestTokenIssuer) -> EdgeAuthenticator:
    verifier = TokenVerifier(issuer.key_source, issuer="rapport-identity", audience="rapport")
    return EdgeAuthenticator(verifier)


async def test_authenticator_accepts_a_valid_bearer_token(token_issuer: TestTokenIssuer) -> None:
    token = token_issuer.issue(USER, "client")
    principal = await _authenticator(token_issuer).authenticate(
        [(b"authorization", f"Bearer {token}".encode())]
    )
    assert principal.subject == USER
    assert principal.role == "client"


@pytest.mark.parametrize(
    "authorization",
    [None, b"", b"Bearer", b"Bearer   ", b"Basic dXNlcjpwYXNz", b"Token abc"],
)
async def test_authenticator_refuses_missing_credentials(
    token_issuer: TestTokenIssuer, authorization: bytes | None
) -> None:
    headers = [] if authorization is None else [(b"authorization", authorization)]
    with pytest.raises(Unauthorized, match="missing bearer token"):
        await _authenticator(token_issuer).authenticate(headers)


def test_security_headers_replace_upstream_values_and_keep_cache_control() -> None:
    headers = SecurityHeaders().apply(
        [(b"x-frame-options", b"SAMEORIGIN"), (b"cache-control", b"max-age=60")], b"rid-1"
    )
    as_dict = dict(headers)
    assert as_dict[b"x-frame-options"] == b"DENY"
    assert [v for k, v in headers if k == b"x-frame-options"] == [b"DENY"]
    assert as_dict[b"cache-control"] == b"max-age=60"
    assert as_dict[b"x-request-id"] == b"rid-1"
    assert b"strict-transport-security" not in as_dict


def test_security_headers_add_no_store_and_hsts_when_configured() -> None:
    headers = dict(SecurityHeaders(hsts_max_age_seconds=31536000).apply([], b"rid-2"))
    assert headers[b"cache-control"] == b"no-store"
    assert headers[b"strict-transport-security"] == b"max-age=31536000"
    assert headers[b"content-security-policy"].startswith(b"default-src 'none'")


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        (b"req-123_abc.def:9", True),
        (b"has space", False),
        (b"x" * 129, False),
        (b"bad\xffbyte", False),
        (b"", False),
    ],
)
def test_request_id_is_kept_only_when_sane(given: bytes, kept: bool) -> None:
    request_id = request_id_of([(b"x-request-id", given)])
    if kept:
        assert request_id == given.decode()
    else:
        assert request_id != given.decode("latin-1")
        uuid.UUID(hex=request_id)


async def test_protected_route_without_token_is_401_and_never_reaches_the_service(
    client: httpx.AsyncClient, echo_upstream: EchoUpstream
) -> None:
    response = await client.get("/v1/goals/unreached-without-token")
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "detail": "missing bearer token"}
    assert response.headers["www-authenticate"] == "Bearer"
    assert echo_upstream.requests_to("/v1/goals/unreached-without-token") == []


@pytest.mark.parametrize("kind", ["tampered", "foreign key", "expired", "wrong audience"])
async def test_bad_tokens_are_401(
    client: httpx.AsyncClient, echo_upstream: EchoUpstream, token_issuer: TestTokenIssuer, kind: str
) -> None:
    if kind == "tampered":
        token = _tampered(token_issuer.issue(USER, "client"))
    elif kind == "foreign key":
        token = TestTokenIssuer().issue(USER, "client")
    elif kind == "expired":
        token = token_issuer.issue(USER, "client", lifetime=-60)
    else:
        token = token_issuer.signaling(uuid.UUID(USER), "client", uuid.uuid4())
    path = f"/v1/goals/bad-token-{kind.replace(' ', '-')}"
    response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"
    assert echo_upstream.requests_to(path) == []


@pytest.mark.parametrize(
    ("method", "path", "authorized"),
    [
        ("GET", "/v1/users/me", True),
        ("GET", "/v1/users/me", False),
        ("GET", "/v1/nowhere", False),
        ("GET", "/healthz", False),
        ("GET", "/metrics", False),
        ("POST", "/v1/auth/login", False),
    ],
)
async def test_every_response_carries_the_security_headers(
    client: httpx.AsyncClient, bearer: dict[str, str], method: str, path: str, authorized: bool
) -> None:
    response = await client.request(method, path, headers=bearer if authorized else {}, json={})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers
    assert response.headers["x-request-id"]
