"""The edge: a pure ASGI layer in front of the gateway's own small FastAPI app.

Every request passes through here once. Routed requests are checked (token, rate limit) and
proxied straight away, without the per-request cost of the app's middleware (the shared
metrics middleware alone would cut the gateway's throughput several times over); the gateway's
own endpoints (health, readiness, metrics) go to the app. Every response leaves with the
security headers and the request id. Errors are rendered by the handlers ``shared.errors``
installed on the app, so they have the same shape as every service's.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from gateway.errors import UpgradeRequired
from gateway.metrics import EdgeMetrics
from gateway.proxy import HttpProxy, forwarding_headers
from gateway.rate_limit import RateLimiter
from gateway.routing import (
    OWN_PATHS,
    RouteTable,
    Transport,
    UpstreamDirectory,
    session_routing_key,
)
from gateway.security import EdgeAuthenticator, SecurityHeaders, request_id_of
from gateway.websocket_proxy import WebSocketRelay
from shared.errors import NotFound, RapportError

ErrorHandler = Callable[[Any, Exception], Response | Awaitable[Response]]

METRICS_PATH = "/metrics"


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


class _SecuredSend:
    """Wraps ``send``: security headers and request id on the response head; notes the status."""

    __slots__ = ("_send", "_headers", "_request_id", "status")

    def __init__(self, send: Send, headers: SecurityHeaders, request_id: str) -> None:
        self._send = send
        self._headers = headers
        self._request_id = request_id.encode("ascii")
        self.status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] in ("http.response.start", "websocket.http.response.start"):
            self.status = message["status"]
            message["headers"] = self._headers.apply(message.get("headers", ()), self._request_id)
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
        parts = self._parts
        headers = scope["headers"]
        request_id = request_id_of(headers)
        secured = _SecuredSend(send, parts.security_headers, request_id)
        path: str = scope["path"]
        if path in OWN_PATHS:
            if path == METRICS_PATH:
                await parts.metrics.serve_with(self.app, scope, receive, secured)
            else:
                await self.app(scope, receive, secured)
            return
        route = parts.routes.match(path)
        if route is None:
            await self._respond_with_error(scope, receive, secured, NotFound("no such route"))
            return
        method: str = scope["method"]
        started = time.perf_counter()
        try:
            if route.transport is Transport.WEBSOCKET:
                raise UpgradeRequired("this route only accepts WebSocket connections")
            if not parts.routes.is_public(route, method, path):
                await parts.authenticator.authenticate(headers)
            if parts.routes.is_rate_limited(method, path):
                parts.login_limiter.check(client_address(scope))
            await parts.http_proxy.forward(
                scope,
                receive,
                secured,
                upstream=route.upstream.value,
                base_url=parts.upstreams.base_url(route.upstream),
                request_id=request_id,
            )
        except RapportError as exc:
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
        parts = self._parts
        headers = scope["headers"]
        request_id = request_id_of(headers)
        secured = _SecuredSend(send, parts.security_headers, request_id)
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
                await parts.websocket_relay.relay(
                    scope,
                    receive,
                    secured,
                    upstream=upstream,
                    base_url=parts.upstreams.base_url(route.upstream, routing_key=routing_key),
                    forwarding=forwarding_headers(scope, request_id),
                )
            finally:
                parts.metrics.websocket_closed(upstream)
        except RapportError as exc:
            await self._respond_with_error(scope, receive, secured, exc)

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


def client_address(scope: Scope) -> str:
    """The client's address as the server saw it (after trusted proxy headers)."""
    client = scope.get("client")
    return client[0] if client else "unknown"
