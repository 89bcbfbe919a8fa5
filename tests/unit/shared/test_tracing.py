"""Tracing: off by default, on from the standard variables; the trace context goes into the
CloudEvents headers (and so the outbox row) and comes back out; log lines carry its ids."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlmodel import SQLModel, select

from shared import tracing
from shared.db import Database
from shared.events.catalog import UserRegistered
from shared.events.envelope import decode, encode
from shared.events.outbox import OutboxMessage, add_event
from shared.logging import configure_logging

log = logging.getLogger("tests.tracing")


@pytest.mark.parametrize(
    ("environ", "exporters"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, []),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, []),
    ],
)
def test_tracing_is_off_unless_the_environment_asks(
    environ: dict[str, str], exporters: list[str]
) -> None:
    assert tracing.wanted(environ) == exporters


def test_an_unsupported_exporter_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="http/protobuf"):
        tracing._exporter("otlp", {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Tracing on for this test only, into memory (the process-wide provider is left alone)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_provider", provider)
    monkeypatch.setattr(tracing, "tracer", lambda: provider.get_tracer("test"))
    yield exporter
    provider.shutdown()


def _event() -> UserRegistered:
    return UserRegistered(user_id=uuid.uuid4(), role="client", registered_at=datetime.now(UTC))


def test_an_event_carries_the_producing_spans_context_and_the_consumer_continues_it(
    spans: InMemorySpanExporter,
) -> None:
    with tracing.tracer().start_as_current_span("POST /v1/appointments") as request:
        record = encode(_event(), source="/records")
    context = request.get_span_context()
    headers = dict(record.headers)
    trace_id, span_id = format(context.trace_id, "032x"), format(context.span_id, "016x")
    assert headers["ce_traceparent"].startswith(f"00-{trace_id}-{span_id}-".encode())

    envelope = decode(record.key, record.value, record.headers)
    assert envelope.trace_context == {"traceparent": headers["ce_traceparent"].decode()}
    with tracing.consuming(envelope.type, "rapport.identity", envelope.id, envelope.trace_context):
        pass
    consumed = spans.get_finished_spans()[-1]
    assert consumed.name == f"process {envelope.type}"
    assert consumed.context.trace_id == context.trace_id
    assert consumed.parent is not None and consumed.parent.span_id == context.span_id


def test_without_tracing_no_trace_header_is_written() -> None:
    record = encode(_event(), source="/records")
    assert not [k for k, _ in record.headers if "trace" in k]
    assert decode(record.key, record.value, record.headers).trace_context == {}


def test_log_lines_inside_a_span_carry_its_trace_and_span_ids(
    spans: InMemorySpanExporter, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("demo")
    capsys.readouterr()
    with tracing.tracer().start_as_current_span("work") as span:
        log.warning("inside")
    log.warning("outside")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    inside, outside = [line for line in lines if line["logger"] == log.name]
    assert inside["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert inside["span_id"] == format(span.get_span_context().span_id, "016x")
    assert "trace_id" not in outside


async def test_the_outbox_row_keeps_the_requests_trace_context(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(
            SQLModel.metadata.create_all,
            tables=[OutboxMessage.__table__],  # type: ignore[attr-defined]
        )
    with tracing.tracer().start_as_current_span("POST /v1/appointments") as request:
        async with database.unit_of_work() as session:
            add_event(session, _event(), source="/records")
    # Read back outside the span, as the relay does: the context is in the row.
    async with database.unit_of_work() as session:
        (row,) = (await session.exec(select(OutboxMessage))).all()
    await database.dispose()
    trace_id = format(request.get_span_context().trace_id, "032x")
    assert dict(row.headers)["ce_traceparent"].startswith(f"00-{trace_id}-")
