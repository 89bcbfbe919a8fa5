"""HTTP proxying: what reaches the service, what comes back, and what happens when it fails."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import httpx

from gateway.proxy import HOP_BY_HOP, SET_AT_THE_EDGE, end_to_end, path_and_query
from tests.support.waiting import not_hung
from tests.unit.gateway.conftest import STREAM_CHUNK, STREAM_CHUNKS, EchoUpstream, Gateway


def _headers_seen(echo_upstream: EchoUpstream, path: str) -> dict[str, list[str]]:
    [request] = echo_upstream.requests_to(path)
    seen: dict[str, list[str]] = {}
    for name, value in request["headers"]:
        seen.setdefault(name, []).append(value)
    return seen


def test_end_to_end_drops_hop_by_hop_and_connection_listed_headers() -> None:
    headers = [
        (b"Connection", b"keep-alive, X-Private"),
        (b"X-Private", b"1"),
        (b"Keep-Alive", b"timeout=5"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Upgrade", b"h2c"),
        (b"Host", b"public.example"),
        (b"Accept", b"application/json"),
    ]
    assert end_to_end(headers, SET_AT_THE_EDGE) == [(b"accept", b"application/json")]
    assert end_to_end(headers, frozenset()) == [
        (b"host", b"public.example"),
        (b"accept", b"application/json"),
    ]
    assert b"transfer-encoding" in HOP_BY_HOP


def test_path_and_query_keeps_the_raw_encoding() -> None:
    scope = {"path": "/v1/goals/a b", "raw_path": b"/v1/goals/a%20b", "query_string": b"x=%2F"}
    assert path_and_query(scope) == "/v1/goals/a%20b?x=%2F"
    assert path_and_query({"path": "/v1/goals", "query_string": b""}) == "/v1/goals"


async def test_public_login_passes_without_a_token(
    client: httpx.AsyncClient, echo_upstream: EchoUpstream
) -> None:
    response = await client.post("/v1/auth/login", json={"email": "a@example.org"})
    assert response.status_code == 200
    assert response.json()["path"] == "/v1/auth/login"
    assert response.json()["body"] == '{"email":"a@example.org"}'


async def test_jwks_is_public(client: httpx.AsyncClient) -> None:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.json()["path"] == "/.well-known/jwks.json"


async def test_smart_discovery_and_fhir_metadata_are_public(client: httpx.AsyncClient) -> None:
    for path in ("/.well-known/smart-configuration", "/fhir/metadata"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.json()["path"] == path
    refused = await client.get("/fhir/Patient")
    assert refused.status_code == 401
    # A FHIR client gets FHIR's error shape from the edge too.
    assert refused.headers["content-type"].startswith("application/fhir+json")
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert refused.json()["issue"][0]["code"] == "login"


async def test_a_valid_token_is_proxied_with_status_body_and_headers(
    client: httpx.AsyncClient, echo_upstream: EchoUpstream, bearer: dict[str, str]
) -> None:
    response = await client.post(
        "/v1/appointments/created",
        params={"clinic": "north", "when": "2030-01-01T09:00:00+00:00"},
        content=b'{"client_id": "c-1"}',
        headers={
            **bearer,
            "Content-Type": "application/json",
            "Connection": "keep-alive, X-Private",
            "X-Private": "hop-by-hop by name",
            "Proxy-Authorization": "Basic c2VjcmV0",
            "TE": "trailers",
            "X-Forwarded-For": "198.51.100.66",
            "X-Forwarded-Proto": "https",
            "X-Trace": "kept",
        },
    )
    assert response.status_code == 201
    assert response.json() == {
        "method": "POST",
        "path": "/v1/appointments/created",
        "body": '{"client_id": "c-1"}',
    }
    # The service's own headers come back; hop-by-hop ones do not.
    assert response.headers["x-upstream"] == "echo"
    assert response.headers["set-cookie"] == "flavour=oat; HttpOnly"
    assert "x-hop-by-hop" not in response.headers
    assert "keep-alive" not in response.headers
    assert response.headers.get_list("date") and len(response.headers.get_list("date")) == 1
    assert "server" not in response.headers

    seen = _headers_seen(echo_upstream, "/v1/appointments/created")
    [request] = echo_upstream.requests_to("/v1/appointments/created")
    assert request["query"] == "clinic=north&when=2030-01-01T09%3A00%3A00%2B00%3A00"
    assert seen["authorization"] == [bearer["Authorization"]]
    assert seen["x-trace"] == ["kept"]
    assert seen["content-type"] == ["application/json"]
    for dropped in ("x-private", "proxy-authorization", "te", "connection", "keep-alive"):
        assert dropped not in seen, dropped
    # What the gateway saw replaces what the client claimed.
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["x-forwarded-host"] == [client.base_url.netloc.decode()]
    assert seen["x-request-id"] == [response.headers["x-request-id"]]
    assert seen["host"] == [echo_upstream.url.removeprefix("http://")]


async def test_a_sane_request_id_travels_through(
    client: httpx.AsyncClient, echo_upstream: EchoUpstream, bearer: dict[str, str]
) -> None:
    response = await client.get(
        "/v1/sessions/with-request-id", headers={**bearer, "X-Request-ID": "trace-42"}
    )
    assert response.headers["x-request-id"] == "trace-42"
    assert _headers_seen(echo_upstream, "/v1/sessions/with-request-id")["x-request-id"] == [
        "trace-42"
    ]


async def test_encoded_paths_reach_the_service_as_sent(
    client: httpx.AsyncClient, echo_upstream: EchoUpstream, bearer: dict[str, str]
) -> None:
    response = await client.get("/v1/goals/a%20b%2Fc", headers=bearer)
    assert response.status_code == 200
    [request] = echo_upstream.requests_to("/v1/goals/a b/c")
    assert request["raw_path"] == "/v1/goals/a%20b%2Fc"


async def test_head_and_put_are_proxied(client: httpx.AsyncClient, bearer: dict[str, str]) -> None:
    head = await client.head("/v1/goals/head-check", headers=bearer)
    put = await client.put("/v1/goals/put-check", headers=bearer, json={"status": "met"})
    again = await client.get("/v1/goals/after-head", headers=bearer)
    assert head.status_code == 200
    assert head.content == b""
    assert put.json()["method"] == "PUT"
    assert again.json()["path"] == "/v1/goals/after-head"


async def test_streamed_bodies_pass_through_intact(
    client: httpx.AsyncClient, bearer: dict[str, str]
) -> None:
    piece = bytes(range(256)) * 1024  # 256 KiB

    async def upload() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield piece

    expected = {"length": 8 * len(piece), "sha256": hashlib.sha256(piece * 8).hexdigest()}
    chunked = await client.post("/v1/appointments/upload", headers=bearer, content=upload())
    with_length = await client.post("/v1/appointments/upload", headers=bearer, content=piece * 8)
    assert chunked.status_code == with_length.status_code == 200
    assert chunked.json() == with_length.json() == expected

    async with client.stream("GET", "/v1/sessions/stream", headers=bearer) as downloaded:
        assert downloaded.status_code == 200
        assert "content-length" not in downloaded.headers
        body = b"".join([chunk async for chunk in downloaded.aiter_raw()])
    assert body == STREAM_CHUNK * STREAM_CHUNKS


async def test_unknown_route_is_404_in_the_shared_shape(
    client: httpx.AsyncClient, bearer: dict[str, str]
) -> None:
    # "/" is the web app's sign-in page (tests/unit/gateway/test_pages.py).
    # /openapi.json is the combined document (tests/unit/gateway/test_openapi.py); the
    # gateway's own FastAPI pages stay unreachable.
    for path in ("/v1/nowhere", "/v1/goalsX", "/docs", "/redoc"):
        response = await client.get(path, headers=bearer)
        assert response.status_code == 404, path
        assert response.json()["error"] == "NotFound"


async def test_http_to_the_websocket_route_is_426(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/signal")
    assert response.status_code == 426
    assert response.json()["error"] == "UpgradeRequired"
    assert response.headers["upgrade"] == "websocket"


async def test_upstream_down_is_503(
    gateway_without_upstreams: Gateway, bearer: dict[str, str]
) -> None:
    # 503, not 504: a refused connection is answered as such, not waited out as a timeout.
    async with (
        httpx.AsyncClient(base_url=gateway_without_upstreams.url, timeout=None) as http,
        not_hung("the gateway's answer with its upstreams down"),
    ):
        response = await http.get("/v1/goals", headers=bearer)
        public = await http.post("/v1/auth/login", json={})
    assert response.status_code == 503
    assert response.json() == {
        "error": "UpstreamUnavailable",
        "detail": "records is unavailable",
        "upstream": "records",
    }
    assert public.status_code == 503
    assert public.json()["upstream"] == "identity"


async def test_a_service_that_does_not_answer_is_504_after_the_read_timeout(
    client: httpx.AsyncClient, bearer: dict[str, str], echo_upstream: EchoUpstream
) -> None:
    unanswered_before = len(echo_upstream.unanswered)
    async with not_hung("the gateway's answer to a request its upstream never answers"):
        response = await client.get("/v1/goals/slow", headers=bearer, timeout=None)
    # The upstream took the request and never answers it: only the gateway's own read
    # timeout can have ended the wait.
    assert echo_upstream.unanswered[unanswered_before:] == ["/v1/goals/slow"]
    assert response.status_code == 504
    assert response.json()["error"] == "UpstreamUnavailable"
    # The gateway is fine afterwards.
    assert (await client.get("/v1/goals/after-slow", headers=bearer)).status_code == 200
