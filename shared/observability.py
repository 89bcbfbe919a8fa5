"""Health, readiness and Prometheus metrics, the same on every service."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging import current_request_id, sane_request_id

ReadinessCheck = Callable[[], Awaitable[None]]

access_log = logging.getLogger("rapport.access")
log = logging.getLogger(__name__)
# Paths are ids and route words; a client's mistake (a token pasted into one) stays short.
_LOGGED_PATH_CHARS = 200


class Metrics:
    """A per-app registry, so several apps in one test process do not collide."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "rapport_http_requests_total",
            "HTTP requests served",
            ["service", "method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "rapport_http_request_seconds",
            "HTTP request latency",
            ["service", "route"],
            registry=self.registry,
        )
        self.service = service
        # Read when /metrics is scraped (a backlog is a database count): cheaper than keeping
        # it current on every change, and never stale by more than one scrape.
        self.refreshers: list[Callable[[], Awaitable[None]]] = []

    def on_scrape(self, refresh: Callable[[], Awaitable[None]]) -> None:
        """Run ``refresh`` (which sets gauges) before each /metrics answer."""
        self.refreshers.append(refresh)

    async def refresh(self) -> None:
        """Run the scrape-time refreshers; one that fails leaves its gauges as they were."""
        for refresh in self.refreshers:
            try:
                await asyncio.wait_for(refresh(), timeout=2.0)
            except Exception as exc:  # a dependency down must not take /metrics with it
                log.warning("metrics refresh %s failed: %s", _name_of(refresh), type(exc).__name__)


def _name_of(function: object) -> str:
    return getattr(function, "__qualname__", type(function).__name__)


class GraceCheck:
    """A readiness check that reports a failure only once it has lasted ``grace_seconds``.

    A broker restart or a leader election takes a few seconds; failing readiness at once
    would take every pod out of its Service together and turn a blip into an outage.
    """

    def __init__(
        self,
        check: ReadinessCheck,
        grace_seconds: float,
        *,
        timeout_seconds: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._grace = grace_seconds
        # Below /readyz's own limit, so a probe that hangs is a failure within the grace too.
        self._timeout = timeout_seconds
        self._clock = clock
        self._failing_since: float | None = None

    async def __call__(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._check()
        except Exception:
            now = self._clock()
            if self._failing_since is None:
                self._failing_since = now
            if now - self._failing_since >= self._grace:
                raise
            raise WithinGrace(now - self._failing_since) from None
        self._failing_since = None


class WithinGrace(Exception):
    """A check failing for less than its grace period: reported, still counted as ready."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"degraded: failing for {seconds:.0f}s, within the grace period")


class RequestMetricsMiddleware:
    """Counts requests and their latency per route template; with ``access_log``, logs each.

    A pure ASGI middleware: Starlette's ``@app.middleware("http")`` (BaseHTTPMiddleware) costs
    several times the work of a small endpoint, measured here at 0.09 ms → 0.33 ms a request.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics, access_log: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id_of(scope)
        context = current_request_id.set(request_id) if request_id else None
        started = time.perf_counter()
        response = ResponseStatus(send)
        try:
            await self.app(scope, receive, response)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            metrics = self.metrics
            metrics.requests.labels(
                metrics.service, scope["method"], template, response.status
            ).inc()
            metrics.latency.labels(metrics.service, template).observe(seconds)
            if self.access_log:
                log_request(scope, response.status, seconds)
            if context is not None:
                current_request_id.reset(context)


class ResponseStatus:
    """Wraps an ASGI ``send``, noting the status of the response that goes through it."""

    __slots__ = ("_send", "status")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 500  # what the server answers if the app fails before starting one

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)


def log_request(scope: Scope, status: int, seconds: float) -> None:
    """One line for an HTTP request: method, path, status, duration and client address.

    Never the query string, which is where a careless client puts a token (or a search for a
    client's name), and never a header. uvicorn's own access log writes the query string, so
    it is off wherever Rapport runs uvicorn.
    """
    path = scope["path"][:_LOGGED_PATH_CHARS]
    client = scope.get("client")
    access_log.info(
        "%s %s %d",
        scope["method"],
        path,
        status,
        extra={
            "method": scope["method"],
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "client": client[0] if client else None,
        },
    )


async def serve_logged(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """Run ``app`` for one HTTP request, then :func:`log_request` it."""
    started = time.perf_counter()
    response = ResponseStatus(send)
    try:
        await app(scope, receive, response)
    finally:
        log_request(scope, response.status, time.perf_counter() - started)


def _request_id_of(scope: Scope) -> str | None:
    """The X-Request-ID the gateway forwarded, when it has the expected shape."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            # The same shape the gateway accepts from clients; anything else is not logged.
            return sane_request_id(value)
    return None


def install_observability(
    app: FastAPI, service: str, checks: dict[str, ReadinessCheck], *, access_log: bool = True
) -> Metrics:
    """Add /healthz (process alive), /readyz (dependencies answer), /metrics and, with
    ``access_log``, a log line per request."""
    metrics = Metrics(service)
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get("/readyz")
    async def readyz() -> JSONResponse:
        async def run(check: ReadinessCheck) -> str:
            try:
                await asyncio.wait_for(check(), timeout=3.0)
                return "ok"
            except WithinGrace as exc:
                return str(exc)
            except Exception as exc:  # a failed check is the answer, not an error
                return f"failing: {type(exc).__name__}"

        outcomes = await asyncio.gather(*(run(check) for check in checks.values()))
        results = dict(zip(checks, outcomes, strict=True))
        ready = not any(v.startswith("failing") for v in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics")
    async def prometheus() -> Response:
        await metrics.refresh()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)

    app.add_middleware(RequestMetricsMiddleware, metrics=metrics, access_log=access_log)
    app.state.metrics = metrics
    return metrics
