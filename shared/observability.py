"""Health, readiness and Prometheus metrics, the same on every service."""

from __future__ import annotations

import asyncio
import re
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

from shared.logging import current_request_id

ReadinessCheck = Callable[[], Awaitable[None]]

# The same shape the gateway accepts from clients; anything else is not logged.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


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


class RequestMetricsMiddleware:
    """Counts requests and their latency per route template.

    A pure ASGI middleware: Starlette's ``@app.middleware("http")`` (BaseHTTPMiddleware) costs
    several times the work of a small endpoint, measured here at 0.09 ms → 0.33 ms a request.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id_of(scope)
        context = current_request_id.set(request_id) if request_id else None
        started = time.perf_counter()
        status = 500

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            metrics = self.metrics
            metrics.requests.labels(metrics.service, scope["method"], template, status).inc()
            metrics.latency.labels(metrics.service, template).observe(time.perf_counter() - started)
            if context is not None:
                current_request_id.reset(context)


def _request_id_of(scope: Scope) -> str | None:
    """The X-Request-ID the gateway forwarded, when it has the expected shape."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            return value.decode("ascii") if _SANE_REQUEST_ID.fullmatch(value) else None
    return None


def install_observability(app: FastAPI, service: str, checks: dict[str, ReadinessCheck]) -> Metrics:
    """Add /healthz (process alive), /readyz (dependencies answer) and /metrics."""
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
            except Exception as exc:  # a failed check is the answer, not an error
                return f"failing: {type(exc).__name__}"

        outcomes = await asyncio.gather(*(run(check) for check in checks.values()))
        results = dict(zip(checks, outcomes, strict=True))
        ready = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": results},
            status_code=200 if ready else 503,
        )

    @router.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)

    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    app.state.metrics = metrics
    return metrics
