"""The edge: a pure ASGI layer in front of the gateway's own small FastAPI app.

Every request passes through here once. Routed requests are checked (token, rate limit) and
proxied straight away, without the per-request cost of the app's middleware (the shared
metrics middleware alone would cut the gateway's throughput several times over); the gateway's
own endpoints (health, readiness, metrics) go to the app. Every response leaves with the
security headers and the request id (plus HSTS when served over TLS, and the CORS headers of
the policy); CORS preflights are answered here. Errors are rendered by the handlers
``shared.errors`` installed on the app, so they have the same shape as every service's.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from websockets.asyncio.client import ClientConnection
from websockets.http11 import Response as UpstreamRefusal

from gateway.cors import CorsPolicy
from gateway.errors import MethodNotAllowed, UpgradeRequired, UpstreamUnavailable
from gateway.metrics import EdgeMetrics
from gateway.pages import WebPages
from gateway.proxy import HttpProxy, forwarding_headers, header
from gateway.rate_limit import RateLimiter
from gateway.routing import (
    OWN_PATHS,
    RouteTable,
    Transport,
    Upstream,
    UpstreamDirectory,
    session_routing_key,
)
from gateway.security import EdgeAuthenticator, SecurityHeaders, request_id_of
from gateway.websocket_proxy import HeldHandshakes, WebSocketRelay, refuse_like_upstream
from shared.errors import NotFound, RapportError
from shared.fhir import FHIR_JSON, operation_outcome
from shared.logging import current_request_id
from shared.observability import serve_logged
from shared.tracing import name_current_span, serving, tracing_enabled

log = logging.getLogger(__name__)

ErrorHandler = Callable[[Any, Exception], Response | Awaitable[Response]]
HeaderPairs = Sequence[tuple[bytes, bytes]]

METRICS_PATH = "/metrics"
# A WebSocket handshake refused with 503 reached no signaling process: the client may simply
# connect again (to a room's new owner after a failover, or to another gateway).
WEBSOCKET_RETRY_AFTER_SECONDS = 2


@dataclass(frozen=True, slots=True)
class EdgeParts:
    """What the edge needs, built once by the composition root."""

    routes: RouteTable
    upstreams: UpstreamDirectory
    authenticator: EdgeAuthenticator
    login_limiter: RateLimiter
    http_proxy: HttpProxy
    websocket_relay: WebSocketRelay
    security_headers: SecurityHeaders
    metrics: EdgeMetrics
    error_handler: ErrorHandler
    # The web app's pages, on the paths no API route takes.
    pages: WebPages | None = None
    # Every request with an access token, per token subject; None: no such limit.
    principal_limiter: RateLimiter | None = None
    cors: CorsPolicy = field(default_factory=lambda: CorsPolicy(()))
    # A log line per request the edge answers itself or proxies (the app logs its own paths).
    access_log: bool = False
    # WebSocket handshakes held while signaling is found and connected to.
    handshakes: HeldHandshakes = field(default_factory=HeldHandshakes)


class _SecuredSend:
    """Wraps ``send``: security headers and request id on the response head; notes the status.

    ``extra`` are the edge's own headers for this request (HSTS over TLS, CORS).
    """

    __slots__ = ("_send", "_headers", "_request_id", "_extra", "status")

    def __init__(
        self, send: Send, headers: SecurityHeaders, request_id: str, extra: HeaderPairs = ()
    ) -> None:
        self._send = send
        self._headers = headers
        self._request_id = request_id.encode("ascii")
        self._extra = extra
        self.status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] in ("http.response.start", "websocket.http.response.start"):
            self.status = message["status"]
            secured = self._headers.apply(message.get("headers", ()), self._request_id)
            secured.extend(self._extra)
            message["headers"] = secured
        await self._send(message)


class Edge:
    """ASGI middleware: route, check and proxy; pass the gateway's own paths to ``app``."""

    def __init__(self, app: ASGIApp, parts: EdgeParts) -> None:
        self.app = app
        self._parts = parts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_of(scope["headers"])
        # Everything logged while this request is handled carries its id.
        context = current_request_id.set(request_id)
        try:
            if tracing_enabled() and scope["path"] not in OWN_PATHS:
                with serving(scope, "gateway") as span:
                    send = _status_noting(send, span)
                    await self._serve_http(scope, receive, send, request_id)
            else:
                await self._serve_http(scope, receive, send, request_id)
        finally:
            current_request_id.reset(context)

    async def _serve_http(
        self, scope: Scope, receive: Receive, send: Send, request_id: str
    ) -> None:
        if self._parts.access_log and scope["path"] not in OWN_PATHS:
            handle = functools.partial(self._handle_http, request_id=request_id)
            await serve_logged(handle, scope, receive, send)
        else:
            await self._handle_http(scope, receive, send, request_id)

    async def _handle_http(
        self, scope: Scope, receive: Receive, send: Send, request_id: str
    ) -> None:
        parts = self._parts
        headers = scope["headers"]
        method: str = scope["method"]
        tls = scope.get("scheme") == "https"
        if method == "OPTIONS":
            origin = header(headers, b"origin")
            requested = header(headers, b"access-control-request-method")
            if origin is not None and requested is not None:
                await self._preflight(scope, receive, send, request_id, tls, origin, requested)
                return
        extra = parts.security_headers.over_tls(tls)
        if parts.cors.enabled:
            cors = parts.cors.response_headers(header(headers, b"origin"))
            extra = (*extra, *cors) if extra else cors
        secured = _SecuredSend(send, parts.security_headers, request_id, extra)
        path: str = scope["path"]
        if path in OWN_PATHS:
            if path == METRICS_PATH:
                await parts.metrics.serve_with(self.app, scope, receive, secured)
            else:
                await self.app(scope, receive, secured)
            return
        route = parts.routes.match(path)
        if route is None:
            pages = parts.pages
            page = pages.find(method, path) if pages is not None else None
            if pages is not None and page is not None:
                page_send = _SecuredSend(send, pages.security_headers, request_id, extra)
                await pages.serve(page, scope, receive, page_send)
                return
            await self._respond_with_error(scope, receive, secured, NotFound("no such route"))
            return
        if tracing_enabled():
            name_current_span(f"{method} {route.path}")
        started = time.perf_counter()
        try:
            if route.transport is Transport.WEBSOCKET:
                raise UpgradeRequired("this route only accepts WebSocket connections")
            if not parts.routes.is_public(route, method, path):
                public_methods = parts.routes.public_methods(path)
                if public_methods:
                    raise MethodNotAllowed(public_methods)
                principal = await parts.authenticator.authenticate(headers)
                if parts.principal_limiter is not None:
                    parts.principal_limiter.check(principal.subject)
            if parts.routes.is_rate_limited(method, path):
                parts.login_limiter.check(client_address(scope))
            base_url = parts.upstreams.base_url(route.upstream)
            if base_url is None:
                raise UpstreamUnavailable(route.upstream.value, f"{route.upstream} is unavailable")
            await parts.http_proxy.forward(
                scope,
                receive,
                secured,
                upstream=route.upstream.value,
                base_url=base_url,
                request_id=request_id,
            )
        except RapportError as exc:
            if exc.status_code >= 500:
                log.warning("%s %s: %s", method, route.path, exc.detail)
            if route.errors_as_fhir:
                await _fhir_error(exc)(scope, receive, secured)
            else:
                await self._respond_with_error(scope, receive, secured, exc)
        finally:
            parts.metrics.record(
                route.upstream.value,
                route.path,
                method,
                secured.status,
                time.perf_counter() - started,
            )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = request_id_of(scope["headers"])
        context = current_request_id.set(request_id)
        try:
            await self._handle_websocket(scope, receive, send, request_id)
        finally:
            current_request_id.reset(context)

    async def _handle_websocket(
        self, scope: Scope, receive: Receive, send: Send, request_id: str
    ) -> None:
        parts = self._parts
        headers = scope["headers"]
        over_tls = parts.security_headers.over_tls(scope.get("scheme") == "wss")
        secured = _SecuredSend(send, parts.security_headers, request_id, over_tls)
        if (await receive())["type"] != "websocket.connect":
            return
        path: str = scope["path"]
        route = parts.routes.match(path)
        try:
            if route is None or route.transport is not Transport.WEBSOCKET:
                raise NotFound("no WebSocket endpoint at this path")
            if not parts.routes.is_public(route, "GET", path):
                await parts.authenticator.authenticate(headers)
            upstream = route.upstream.value
            parts.metrics.websocket_opened(upstream)
            try:
                # Clients name the session in the URL (?session_id=, not a secret) so that
                # every participant of a room reaches the same signaling process.
                routing_key = session_routing_key(scope.get("query_string", b""))
                await self._relay_to_owner(
                    scope, receive, secured, route.upstream, routing_key, request_id
                )
            finally:
                parts.metrics.websocket_closed(upstream)
        except RapportError as exc:
            if exc.status_code == 503:
                exc.headers.setdefault("Retry-After", str(WEBSOCKET_RETRY_AFTER_SECONDS))
            await self._respond_with_error(scope, receive, secured, exc)

    async def _relay_to_owner(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        upstream: Upstream,
        routing_key: str | None,
        request_id: str,
    ) -> None:
        """Relay to the process that owns the room, once connected to it."""
        parts = self._parts
        opened = await parts.handshakes.hold(
            self._open_to_owner(scope, upstream, routing_key, request_id)
        )
        if isinstance(opened, UpstreamRefusal):
            await refuse_like_upstream(scope, send, opened)
            return
        await parts.websocket_relay.relay(opened, receive, send)

    async def _open_to_owner(
        self, scope: Scope, upstream: Upstream, routing_key: str | None, request_id: str
    ) -> ClientConnection | UpstreamRefusal:
        """Connect to the process that owns the room. While its owner is unknown, or after a
        connect to it failed (it died; the group has not noticed yet), wait for the owners
        to change: the client's handshake simply takes longer across a failover, but never
        longer than the relay's handshake budget (then 503)."""
        upstreams = self._parts.upstreams
        relay = self._parts.websocket_relay
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + relay.handshake_seconds
        owner_deadline = min(deadline, started + upstreams.owner_wait_seconds)
        while True:
            base_url = upstreams.base_url(upstream, routing_key=routing_key)
            try:
                if base_url is None:
                    raise UpstreamUnavailable(upstream.value, f"{upstream} has no owner ready")
                return await relay.open(
                    scope,
                    upstream=upstream.value,
                    base_url=base_url,
                    forwarding=forwarding_headers(scope, request_id),
                    budget_seconds=deadline - loop.time(),
                )
            except UpstreamUnavailable:
                left = owner_deadline - loop.time()
                if upstreams.owners is None or left <= 0:
                    raise
                if not await upstreams.owners.changed(left):
                    raise

    async def _preflight(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        request_id: str,
        tls: bool,
        origin: bytes,
        method: bytes,
    ) -> None:
        """Answer a CORS preflight here: no service sees it, and it carries no token."""
        parts = self._parts
        over_tls = parts.security_headers.over_tls(tls)
        try:
            requested_headers = header(scope["headers"], b"access-control-request-headers")
            allowed = parts.cors.preflight_headers(origin, method, requested_headers)
        except RapportError as exc:
            secured = _SecuredSend(send, parts.security_headers, request_id, over_tls)
            await self._respond_with_error(scope, receive, secured, exc)
            return
        secured = _SecuredSend(send, parts.security_headers, request_id, (*over_tls, *allowed))
        await secured({"type": "http.response.start", "status": 204, "headers": []})
        await secured({"type": "http.response.body", "body": b"", "more_body": False})

    async def _respond_with_error(
        self, scope: Scope, receive: Receive, send: Send, exc: RapportError
    ) -> None:
        if scope["type"] == "websocket":
            if "websocket.http.response" not in scope.get("extensions", {}):
                # No way to answer with a status before the upgrade: refuse the handshake.
                await send({"type": "websocket.close", "code": 1008})
                return
            connection: Request | WebSocket = WebSocket(scope, receive, send)
        else:
            connection = Request(scope, receive)
        rendered = self._parts.error_handler(connection, exc)
        response = await rendered if inspect.isawaitable(rendered) else rendered
        extra: Mapping[str, str] = getattr(exc, "headers", {})
        for name, value in extra.items():
            response.headers[name] = value
        await response(scope, receive, send)


def _fhir_error(exc: RapportError) -> JSONResponse:
    return JSONResponse(
        operation_outcome(exc.status_code, exc.detail),
        status_code=exc.status_code,
        media_type=FHIR_JSON,
        headers=dict(getattr(exc, "headers", {})),
    )


def _status_noting(send: Send, span: Any) -> Send:
    """``send``, noting the response's status on ``span``."""

    async def noting(message: Message) -> None:
        if message["type"] == "http.response.start":
            span.set_attribute("http.response.status_code", message["status"])
        await send(message)

    return noting


def client_address(scope: Scope) -> str:
    """The client's address as the server saw it (after trusted proxy headers)."""
    client = scope.get("client")
    return client[0] if client else "unknown"
