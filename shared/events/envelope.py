"""CloudEvents 1.0 over Kafka, binary content mode (the CloudEvents Kafka protocol binding).

Attributes travel as ``ce_*`` headers, the data as the JSON record value, and the partition key
(the aggregate id) as the record key. The CloudEvents SDK does the mapping.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary, to_binary
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from shared.events.catalog import EventPayload, Payload, decode_payload
from shared.tracing import TRACE_FIELDS, inject_into, tracing_enabled

_FORMAT = JSONFormat()


@dataclass(frozen=True)
class Envelope:
    """A decoded event: CloudEvent attributes plus its typed payload."""

    id: str
    source: str
    type: str
    time: datetime
    subject: str | None
    payload: EventPayload
    # The W3C trace context of the span that produced the event (traceparent, tracestate).
    trace_context: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KafkaRecord:
    """What goes to (or comes from) Kafka for one event."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def encode(
    payload: Payload,
    *,
    source: str,
    event_id: str | None = None,
    time: datetime | None = None,
    subject: str | None = None,
) -> KafkaRecord:
    """Wrap ``payload`` in a CloudEvent and map it to a Kafka record."""
    key = payload.partition_key()
    attributes: dict[str, Any] = {
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": payload.type,
        "time": time or datetime.now(UTC),
        "datacontenttype": "application/json",
        "subject": subject or key,
        "partitionkey": key,
    }
    if tracing_enabled():
        # The CloudEvents distributed-tracing extension: ce_traceparent / ce_tracestate.
        attributes.update(inject_into({}))
    message = to_binary(CloudEvent(attributes, payload.data()), _FORMAT)
    # partitionkey is the record key already; no need to repeat it as a header.
    headers = [(k, v) for k, v in message.headers.items() if k != "ce_partitionkey"]
    return KafkaRecord(payload.topic, key.encode(), message.value, headers)


class MalformedEvent(ValueError):
    """A record that is not a valid CloudEvent of a known type: poison, never retried."""


def decode(
    key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]
) -> Envelope:
    """Turn a Kafka record back into an :class:`Envelope`, or raise :class:`MalformedEvent`."""
    try:
        message = KafkaMessage(headers=dict(headers), key=key, value=value or b"")
        event = from_binary(message, _FORMAT)
        attributes = event.get_attributes()
        payload = decode_payload(attributes["type"], event.get_data())
        return Envelope(
            id=attributes["id"],
            source=attributes["source"],
            type=attributes["type"],
            time=attributes.get("time") or datetime.now(UTC),
            subject=attributes.get("subject"),
            payload=payload,
            trace_context={k: attributes[k] for k in TRACE_FIELDS if attributes.get(k)},
        )
    except MalformedEvent:
        raise
    except Exception as exc:  # every decoding failure means the same thing: poison
        raise MalformedEvent(f"{type(exc).__name__}: {exc}") from exc
