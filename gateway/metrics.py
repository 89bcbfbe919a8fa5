"""Metrics of the traffic the edge routes, served with the app's own on /metrics.

Routed requests skip the app's middleware (that is most of the gateway's speed), so the shared
request metrics never see them; the edge records them here instead, under gateway-specific
names so the two sets can share one exposition.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Methods outside this set are counted as "other", so clients cannot mint label values.
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class EdgeMetrics:
    """Counts and latencies by upstream and route prefix (bounded labels, never raw paths)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "rapport_gateway_requests_total",
            "Requests routed by the gateway, including those refused at the edge",
            ["upstream", "route", "method", "status"],
            registry=self.registry,
        )
        self._seconds = Histogram(
            "rapport_gateway_request_seconds",
            "Time from a routed request's arrival to the end of its response",
            ["upstream", "route"],
            registry=self.registry,
        )
        self._websockets = Gauge(
            "rapport_gateway_websockets_open",
            "WebSocket connections being relayed",
            ["upstream"],
            registry=self.registry,
        )

    def record(self, upstream: str, route: str, method: str, status: int, seconds: float) -> None:
        """Count one finished HTTP request."""
        method = method if method in _KNOWN_METHODS else "other"
        self._requests.labels(upstream, route, method, str(status)).inc()
        self._seconds.labels(upstream, route).observe(seconds)

    def websocket_opened(self, upstream: str) -> None:
        """Count a relayed WebSocket as open."""
        self._websockets.labels(upstream).inc()

    def websocket_closed(self, upstream: str) -> None:
        """Count a relayed WebSocket as closed."""
        self._websockets.labels(upstream).dec()

    async def serve_with(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve ``app``'s /metrics with these metrics appended to its exposition."""
        start: Message | None = None
        parts: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        await app(scope, receive, capture)
        if start is None:
            return
        body = b"".join(parts)
        if start["status"] == 200:
            body += generate_latest(self.registry)
        start["headers"] = [
            (name, value) for name, value in start.get("headers", []) if name != b"content-length"
        ] + [(b"content-length", str(len(body)).encode())]
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})
