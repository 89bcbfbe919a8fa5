"""HTTP proxying to the services over one shared pool of keep-alive connections.

Request and response bodies stream through without being buffered (small bodies go in one
piece). Hop-by-hop headers are dropped in both directions; the gateway sets X-Forwarded-For,
X-Forwarded-Proto, X-Forwarded-Host and X-Request-ID itself, because the values a client sends
cannot be trusted at the edge.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from starlette.types import Receive, Scope, Send

from gateway.errors import UpstreamUnavailable
from gateway.upstream_pool import (
    Origin,
    RequestBody,
    UpstreamConnectFailed,
    UpstreamError,
    UpstreamPool,
    UpstreamResponse,
    UpstreamTimeout,
)
from shared.tracing import inject_into, tracing_enabled

log = logging.getLogger(__name__)

RawHeaders = list[tuple[bytes, bytes]]

# RFC 9110 §7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP: frozenset[bytes] = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Set by the gateway from what it observed; a client's own values would let it spoof its
# address or scheme to the services. Host is the upstream's own (the original goes in
# X-Forwarded-Host).
SET_AT_THE_EDGE: frozenset[bytes] = frozenset(
    {
        b"host",
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-host",
        b"x-forwarded-proto",
        b"x-real-ip",
        b"x-request-id",
        # The gateway's server already answered any 100-continue; the body streams regardless.
        b"expect",
    }
)
# With tracing on, the edge's span continues the client's trace context and forwards its own.
SET_AT_THE_EDGE_TRACED: frozenset[bytes] = SET_AT_THE_EDGE | {b"traceparent", b"tracestate"}
# The gateway's own server adds Date (and Server, when enabled); upstream copies would be
# duplicates, and the Server header would advertise what runs behind the edge.
SET_BY_THE_GATEWAY_SERVER: frozenset[bytes] = frozenset({b"date", b"server"})

# Bodies up to this size are read whole and sent in one message; larger ones stream.
SINGLE_MESSAGE_BODY_LIMIT = 64 * 1024


class ClientDisconnected(Exception):
    """The client went away while its request body was still being forwarded."""


def connection_tokens(headers: RawHeaders) -> frozenset[bytes]:
    """Header names listed in ``Connection``: hop-by-hop for this message only."""
    tokens: set[bytes] = set()
    for name, value in headers:
        if name.lower() == b"connection":
            tokens.update(t.strip().lower() for t in value.split(b",") if t.strip())
    return frozenset(tokens)


def end_to_end(headers: RawHeaders, drop: frozenset[bytes]) -> RawHeaders:
    """``headers`` without hop-by-hop ones, those named in Connection, and ``drop``."""
    extra = connection_tokens(headers)
    return [
        (name.lower(), value)
        for name, value in headers
        if name.lower() not in HOP_BY_HOP and name.lower() not in drop and name.lower() not in extra
    ]


def header(headers: RawHeaders, name: bytes) -> bytes | None:
    """The first value of ``name`` (lower-case) in ASGI headers, or None."""
    for key, value in headers:
        if key == name:
            return value
    return None


def forwarding_headers(scope: Scope, request_id: str) -> RawHeaders:
    """X-Forwarded-* and X-Request-ID for a request the gateway passes on."""
    client = scope.get("client")
    scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
    added: RawHeaders = [
        (b"x-forwarded-proto", scheme.encode()),
        (b"x-request-id", request_id.encode()),
    ]
    if client:
        added.append((b"x-forwarded-for", client[0].encode()))
    host = header(scope["headers"], b"host")
    if host is not None:
        added.append((b"x-forwarded-host", host))
    if tracing_enabled():
        added.extend((k.encode(), v.encode()) for k, v in inject_into({}).items())
    return added


class HttpProxy:
    """Forwards HTTP requests to the services and streams the answers back."""

    def __init__(self, pool: UpstreamPool, *, health_check_seconds: float = 1.0) -> None:
        self._pool = pool
        self._health_check_seconds = health_check_seconds
        self._origins: dict[str, tuple[Origin, str]] = {}

    async def forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        upstream: str,
        base_url: str,
        request_id: str,
    ) -> None:
        """Proxy the request in ``scope`` to ``base_url``; raise UpstreamUnavailable on failure."""
        incoming: RawHeaders = scope["headers"]
        headers = end_to_end(
            incoming, SET_AT_THE_EDGE_TRACED if tracing_enabled() else SET_AT_THE_EDGE
        )
        headers.extend(forwarding_headers(scope, request_id))
        origin, base_path = self._origin(base_url)
        try:
            body = await _request_body(incoming, receive)
            response = await self._pool.send(
                origin, scope["method"], base_path + path_and_query(scope), headers, body
            )
        except ClientDisconnected:
            return
        except UpstreamError as exc:
            raise _unavailable(upstream, exc) from exc
        try:
            await _relay_response(response, send, upstream)
        finally:
            response.close()

    async def check_health(self, base_url: str) -> None:
        """Readiness: raise unless ``base_url``/healthz answers 200, quickly."""
        origin, base_path = self._origin(base_url)
        async with asyncio.timeout(self._health_check_seconds):
            response = await self._pool.send(origin, "GET", base_path + "/healthz", [], None)
            try:
                await response.read()
            finally:
                response.close()
        if response.status != 200:
            raise UpstreamUnavailable(base_url, f"/healthz answered {response.status}")

    def _origin(self, base_url: str) -> tuple[Origin, str]:
        known = self._origins.get(base_url)
        if known is None:
            known = self._origins[base_url] = (
                Origin.parse(base_url),
                urlsplit(base_url).path.rstrip("/"),
            )
        return known


def _unavailable(upstream: str, failure: UpstreamError) -> UpstreamUnavailable:
    if isinstance(failure, UpstreamConnectFailed):
        return UpstreamUnavailable(upstream, f"{upstream} is unavailable")
    if isinstance(failure, UpstreamTimeout):
        return UpstreamUnavailable(upstream, f"{upstream} did not answer in time", status_code=504)
    return UpstreamUnavailable(upstream, f"{upstream} broke off the exchange", status_code=502)


def path_and_query(scope: Scope) -> str:
    """The request target to send upstream: raw path and query string."""
    # The raw path keeps the client's percent-encoding exactly as sent.
    raw_path: bytes | None = scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else scope["path"]
    query: bytes = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


async def _request_body(headers: RawHeaders, receive: Receive) -> RequestBody:
    has_length = header(headers, b"content-length") not in (None, b"0")
    if not has_length and header(headers, b"transfer-encoding") is None:
        return None
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnected
    first: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return first
    return _stream_rest(first, receive)


async def _stream_rest(first: bytes, receive: Receive) -> AsyncIterator[bytes]:
    if first:
        yield first
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        body: bytes = message.get("body", b"")
        if body:
            yield body
        if not message.get("more_body", False):
            return


async def _relay_response(response: UpstreamResponse, send: Send, upstream: str) -> None:
    headers = end_to_end(response.headers, SET_BY_THE_GATEWAY_SERVER)
    start = {"type": "http.response.start", "status": response.status, "headers": headers}
    length = header(response.headers, b"content-length")
    if length is not None and length.isdigit() and int(length) <= SINGLE_MESSAGE_BODY_LIMIT:
        try:
            body = await response.read()
        except UpstreamError as exc:
            # Nothing has been sent yet, so the client can still get a clean error.
            raise _unavailable(upstream, exc) from exc
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return
    await send(start)
    try:
        async for chunk in response.chunks():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except UpstreamError:
        # The status line is out; the only honest signal left is a broken connection.
        log.warning("upstream %s broke off a streamed response", upstream)
        raise
    await send({"type": "http.response.body", "body": b"", "more_body": False})
