"""OpenTelemetry tracing: off unless the standard ``OTEL_*`` environment variables ask for it.

Tracing turns on when ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``) or an
OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``),
and never when ``OTEL_SDK_DISABLED=true``. Everything else (headers, timeouts, sampler, batch
sizes, resource attributes, ``OTEL_SERVICE_NAME``) is read by the SDK from its own variables.
OTLP goes over HTTP/protobuf, the protocol every collector accepts without gRPC.

The trace context crosses HTTP as the W3C ``traceparent``/``tracestate`` headers and Kafka as
the CloudEvents distributed-tracing attributes (``ce_traceparent``/``ce_tracestate`` in binary
mode), written into the outbox with the event so the relay sends the request's context.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    # The SDK is imported only where tracing is turned on: it costs every process a good part
    # of a second at start-up (measured: up to 0.8 s, most of it resource detection).
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = logging.getLogger(__name__)

TRACER_NAME = "rapport"
# The W3C trace-context fields, carried as CloudEvents extension attributes of the same names.
TRACE_FIELDS = ("traceparent", "tracestate")

_provider: TracerProvider | None = None
# W3C trace context only (traceparent, tracestate): what crosses HTTP and the event headers.
_PROPAGATOR = TraceContextTextMapPropagator()


def tracing_enabled() -> bool:
    """Whether this process records spans (checked on hot paths before any tracing work)."""
    return _provider is not None


def wanted(environ: Mapping[str, str]) -> list[str]:
    """The span exporters the environment asks for; empty when tracing stays off."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = environ.get("OTEL_TRACES_EXPORTER")
    if names is None:
        endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    return [n for n in (p.strip().lower() for p in names.split(",")) if n and n != "none"]


def configure_tracing(service: str, environ: Mapping[str, str] | None = None) -> bool:
    """Set up the process's tracer provider from the environment; True when tracing is on.

    Once per process: later calls (several apps built in one test process) keep the first.
    """
    if _provider is not None:
        return True
    environ = os.environ if environ is None else environ
    names = wanted(environ)
    if not names:
        return False
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporters = [_exporter(name, environ) for name in names]
    attributes = {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: f"rapport-{service}"}
    provider = TracerProvider(resource=Resource.create(attributes))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)
    return True


def _exporter(name: str, environ: Mapping[str, str]) -> SpanExporter:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        raise ValueError(f"OTEL_TRACES_EXPORTER={name!r}: Rapport exports 'otlp' or 'console'")
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )
    if protocol != "http/protobuf":
        raise ValueError(f"OTLP protocol {protocol!r}: Rapport exports over http/protobuf only")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def install(provider: TracerProvider) -> None:
    """Make ``provider`` this process's tracer provider (tests pass one with an in-memory
    exporter)."""
    global _provider
    _provider = provider
    trace.set_tracer_provider(provider)


def tracer() -> trace.Tracer:
    """Rapport's tracer (a no-op one while tracing is off)."""
    return trace.get_tracer(TRACER_NAME)


def inject_into(carrier: dict[str, str]) -> dict[str, str]:
    """Add the current trace context's W3C fields to ``carrier``; nothing when there is none."""
    _PROPAGATOR.inject(carrier)
    return carrier


def extract_from(fields: Mapping[str, str]) -> Context:
    """The trace context that ``fields`` (traceparent, tracestate) carry."""
    return _PROPAGATOR.extract(fields)


@contextmanager
def consuming(
    event_type: str, topic: str, event_id: str, parent: Mapping[str, str]
) -> Iterator[Span]:
    """A span for applying one consumed event, a child of the span that produced it."""
    with tracer().start_as_current_span(
        f"process {event_type}",
        context=extract_from(parent),
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": topic,
            "messaging.message.id": event_id,
            "cloudevents.event_type": event_type,
        },
    ) as span:
        yield span


def current_ids() -> tuple[str, str] | None:
    """The current span's (trace id, span id) in hex, or None outside a recorded span."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


@contextmanager
def serving(scope: Mapping[str, object], name: str) -> Iterator[Span]:
    """A server span for one HTTP request in ``scope``, continuing the caller's trace context.

    For the gateway's edge, which serves routed requests without the app's middleware.
    """
    headers = scope.get("headers") or ()
    carrier = {
        k.decode("latin-1"): v.decode("latin-1")
        for k, v in headers  # type: ignore[attr-defined]
        if k in (b"traceparent", b"tracestate")
    }
    with tracer().start_as_current_span(
        f"{scope.get('method')} {name}",
        context=extract_from(carrier),
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": str(scope.get("method")),
            "url.path": str(scope.get("path"))[:200],
        },
    ) as span:
        yield span


def name_current_span(name: str) -> None:
    """Rename the current span (once the route template that names it is known)."""
    trace.get_current_span().update_name(name)


def instrument_app(app: object) -> None:
    """Trace ``app``'s HTTP requests (FastAPI instrumentation), health and metrics aside."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")  # type: ignore[arg-type]
