"""Edge security: the token check and the headers every response leaves with."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from gateway.security import EdgeAuthenticator, SecurityHeaders, request_id_of
from shared.errors import Unauthorized
from shared.tokens import TokenVerifier
from tests.support.tokens import TestTokenIssuer
from tests.unit.gateway.conftest import EchoUpstream, asgi_gateway, closed_port, gateway_settings

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


def test_security_headers_add_no_store_and_the_api_policy() -> None:
    headers = dict(SecurityHeaders(hsts_max_age_seconds=31536000).apply([], b"rid-2"))
    assert headers[b"cache-control"] == b"no-store"
    assert headers[b"content-security-policy"].startswith(b"default-src 'none'")


def test_hsts_is_only_for_tls_and_upstream_values_never_pass() -> None:
    security = SecurityHeaders(hsts_max_age_seconds=31536000)
    assert security.over_tls(True) == ((b"strict-transport-security", b"max-age=31536000"),)
    assert security.over_tls(False) == ()
    assert SecurityHeaders(hsts_max_age_seconds=0).over_tls(True) == ()
    upstream = [
        (b"strict-transport-security", b"max-age=1"),
        (b"access-control-allow-origin", b"*"),
        (b"x-upstream", b"kept"),
    ]
    names = [name for name, _ in security.apply(upstream, b"rid-3")]
    assert b"strict-transport-security" not in names
    assert b"access-control-allow-origin" not in names
    assert b"x-upstream" in names


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


def _web_root(tmp_path: Path) -> Path:
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "index.html").write_text("<!doctype html><title>Sign in</title>")
    return tmp_path


@pytest.mark.parametrize("scheme", ["https", "http"])
async def test_api_answers_errors_and_pages_all_carry_the_security_headers(
    echo_upstream: EchoUpstream,
    token_issuer: TestTokenIssuer,
    bearer: dict[str, str],
    tmp_path: Path,
    scheme: str,
) -> None:
    settings = gateway_settings(
        records_url=echo_upstream.url,
        identity_url=echo_upstream.url,
        web_root=_web_root(tmp_path),
        hsts_max_age_seconds=63072000,
        login_burst=1,
    )
    async with asgi_gateway(settings, token_issuer, base_url=f"{scheme}://gateway") as (_, http):
        answers = {
            "api": await http.get("/v1/goals/headers", headers=bearer),
            "unauthorized": await http.get("/v1/goals/headers"),
            "not found": await http.get("/v1/nowhere"),
            "rate limited": [await http.post("/v1/auth/login", json={}) for _ in range(2)][-1],
            "page": await http.get("/"),
            "health": await http.get("/healthz"),
        }
    assert [a.status_code for a in answers.values()] == [200, 401, 404, 429, 200, 200]
    for kind, answer in answers.items():
        assert answer.headers["x-content-type-options"] == "nosniff", kind
        assert answer.headers["x-frame-options"] == "DENY", kind
        assert answer.headers["referrer-policy"] == "no-referrer", kind
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"], kind
        assert answer.headers["x-request-id"], kind
        # HSTS only when the gateway is reached over TLS.
        if scheme == "https":
            assert answer.headers["strict-transport-security"] == "max-age=63072000", kind
        else:
            assert "strict-transport-security" not in answer.headers, kind
    assert answers["api"].headers["content-security-policy"].startswith("default-src 'none'")
    assert "script-src 'self'" in answers["page"].headers["content-security-policy"]


async def test_log_lines_written_for_a_request_carry_its_id(
    token_issuer: TestTokenIssuer, bearer: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    nowhere = f"http://127.0.0.1:{closed_port()}"
    settings = gateway_settings(records_url=nowhere, log_level="INFO")
    async with asgi_gateway(settings, token_issuer) as (_, http):
        capsys.readouterr()
        named = await http.get("/v1/goals", headers={**bearer, "X-Request-ID": "trace-in-logs-7"})
        fresh = await http.get("/v1/goals", headers=bearer)
    assert named.status_code == fresh.status_code == 503
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    warnings = [line for line in lines if line["logger"] == "gateway.edge"]
    assert [line.get("request_id") for line in warnings] == [
        "trace-in-logs-7",
        fresh.headers["x-request-id"],
    ]
    assert all(line["service"] == "gateway" for line in warnings)
    assert "records is unavailable" in warnings[0]["message"]


@pytest.mark.parametrize("access_log", [True, False])
async def test_the_access_log_has_no_query_string_and_is_off_by_default(
    token_issuer: TestTokenIssuer,
    bearer: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    access_log: bool,
) -> None:
    nowhere = f"http://127.0.0.1:{closed_port()}"
    settings = gateway_settings(records_url=nowhere, log_level="INFO", access_log=access_log)
    token = bearer["Authorization"].removeprefix("Bearer ")
    async with asgi_gateway(settings, token_issuer) as (_, http):
        capsys.readouterr()
        answer = await http.get(
            "/v1/goals",
            params={"access_token": token},
            headers={**bearer, "X-Request-ID": "trace-access-1"},
        )
        assert (await http.get("/healthz")).status_code == 200
    assert answer.status_code == 503
    output = capsys.readouterr().err
    assert token not in output and "access_token" not in output
    lines = [json.loads(line) for line in output.splitlines() if line]
    requests = [line for line in lines if line["logger"] == "rapport.access"]
    if not access_log:
        assert requests == []
        return
    # Once each: the edge logs what it routes, the gateway's own app its own paths.
    assert [(r["method"], r["path"], r["status"]) for r in requests] == [
        ("GET", "/v1/goals", 503),
        ("GET", "/healthz", 200),
    ]
    assert requests[0]["request_id"] == "trace-access-1"
    assert requests[0]["client"] == "203.0.113.7"
