"""One trace follows a booking across processes: gateway → records → Kafka → consumers.

Every process exports its spans with the standard OTLP exporter to a receiver in the test
(tests/support/otlp_receiver.py); the request carries a W3C traceparent as a browser or a
partner's own tracing would send it.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import httpx

from tests.e2e.flows import eventually, sign_up
from tests.e2e.system import RapportSystem
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan

SCHEDULED = "rapport.records.appointment.scheduled.v1"


async def test_a_booking_is_one_trace_from_the_gateway_to_every_consumer(
    rapport: RapportSystem, otlp_receiver: OtlpReceiver
) -> None:
    trace_id, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    traceparent = f"00-{trace_id}-{caller_span}-01"
    async with httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http:
        clinician = await sign_up(http, "clinician")
        client = await sign_up(http, "client")
        starts = datetime.now(UTC) + timedelta(hours=1)

        async def booked() -> bool:
            response = await http.post(
                "/v1/appointments",
                headers={**clinician.headers, "traceparent": traceparent},
                json={
                    "client_id": client.id,
                    "starts_at": starts.isoformat(),
                    "ends_at": (starts + timedelta(minutes=50)).isoformat(),
                },
            )
            if response.status_code == 422 and "unknown client" in response.text:
                return False  # records has not yet heard of the client from identity
            assert response.status_code == 201, response.text
            return True

        await eventually(booked)

    def consumed_by(service: str) -> list[ReceivedSpan]:
        return [
            s
            for s in otlp_receiver.spans(trace_id)
            if s.service == f"rapport-{service}" and s.name == f"process {SCHEDULED}"
        ]

    async def both_consumers_traced() -> bool:
        return bool(consumed_by("signaling")) and bool(consumed_by("webhooks"))

    await eventually(both_consumers_traced, timeout=60)
    spans = otlp_receiver.spans(trace_id)
    by_id = {s.span_id: s for s in spans}

    edge = [s for s in spans if s.service == "rapport-gateway" and s.kind == "SPAN_KIND_SERVER"]
    assert edge and all(s.parent_span_id == caller_span for s in edge), edge
    assert edge[-1].name == "POST /v1/appointments"
    records = [s for s in spans if s.service == "rapport-records" and s.kind == "SPAN_KIND_SERVER"]
    # Each records request span is the child of a gateway span: the context crossed the hop.
    assert records and all(by_id[s.parent_span_id] in edge for s in records), records

    def inside_records(span: ReceivedSpan) -> bool:
        while span.parent_span_id in by_id:
            span = by_id[span.parent_span_id]
            if span.service == "rapport-records":
                return True
        return False

    # The consumers' spans hang under the records request that wrote the event to its
    # outbox: the context went into the outbox row, through Kafka, into the consumer.
    for service in ("signaling", "webhooks"):
        for span in consumed_by(service):
            assert span.kind == "SPAN_KIND_CONSUMER"
            assert inside_records(span), (service, span)
