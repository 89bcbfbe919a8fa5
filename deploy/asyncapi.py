"""``python -m deploy.asyncapi [--check]``: write (or check) docs/asyncapi.yaml.

The AsyncAPI 3.0 document of every event on Rapport's Kafka topics, generated from the two
places that define them: the event catalog (``shared.events.catalog``: each payload class, its
topic, its key and its wire type) and the consumers' subscriptions (each service's
``events.build_router()``). Each service sends on its own topic; a service receives what its
router handles. The test suite runs ``--check``, so the document cannot drift from the code.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from deploy import generated_file, topology
from shared.events.catalog import EventPayload, Payload, dead_letter_topic
from shared.events.kafka import EventRouter

DOCUMENT_PATH = Path(__file__).resolve().parents[1] / "docs" / "asyncapi.yaml"
SCHEMAS = "#/components/schemas/"
# The service that sends on each topic (one topic per producing service).
PRODUCERS = {
    "rapport.identity": "identity",
    "rapport.records": "records",
    "rapport.signaling": "signaling",
    "rapport.webhooks": "webhooks",
}

# The CloudEvents attributes of the Kafka binding's binary mode, as record headers.
CLOUDEVENT_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "Unique per event; consumers' inbox key."},
        "ce_source": {"type": "string", "description": "The producing service, e.g. /records."},
        "ce_type": {"type": "string", "description": "The event type (see the message name)."},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "The aggregate id (the record key)."},
        "content-type": {"type": "string", "const": "application/json"},
        "ce_traceparent": {
            "type": "string",
            "description": "W3C trace context of the span that produced the event "
            "(CloudEvents distributed-tracing extension); present when tracing is on.",
        },
        "ce_tracestate": {"type": "string", "description": "W3C tracestate, with traceparent."},
    },
}
DEAD_LETTER_HEADERS: dict[str, Any] = {
    "type": "object",
    "description": "The failed record's own headers, plus why and where it failed.",
    "required": [
        "rapport_dlq_reason",
        "rapport_dlq_consumer",
        "rapport_dlq_topic",
        "rapport_dlq_partition",
        "rapport_dlq_offset",
    ],
    "properties": {
        "rapport_dlq_reason": {"type": "string", "description": "Error class and message."},
        "rapport_dlq_consumer": {"type": "string", "description": "The consumer group."},
        "rapport_dlq_topic": {"type": "string"},
        "rapport_dlq_partition": {"type": "string"},
        "rapport_dlq_offset": {"type": "string"},
    },
}


def payload_classes() -> list[type[Payload]]:
    """Every payload class of the catalog's union, in wire-type order."""
    union = EventPayload.__origin__  # type: ignore[attr-defined]
    classes: list[type[Payload]] = list(union.__args__)
    return sorted(classes, key=event_type)


def event_type(payload: type[Payload]) -> str:
    return str(payload.model_fields["type"].default)


def consumer_routers() -> dict[str, EventRouter]:
    """Each service's consumer subscriptions, from its own ``events.build_router()``."""
    routers = {}
    for service in topology.SERVICES:
        try:
            events = importlib.import_module(f"{service.package}.events")
        except ModuleNotFoundError as exc:
            if exc.name != f"{service.package}.events":
                raise
            continue  # a process without consumers (the gateway)
        routers[service.name] = events.build_router()
    return routers


def document(routers: dict[str, EventRouter] | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0 document, as plain data."""
    routers = consumer_routers() if routers is None else routers
    payloads = payload_classes()
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for payload in payloads:
        schemas.update(_payload_schemas(payload))
        messages[event_type(payload)] = _message(payload)

    topics = sorted({p.topic for p in payloads} | set(PRODUCERS))
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in topics:
        on_topic = [event_type(p) for p in payloads if p.topic == topic]
        channels[topic] = {
            "address": topic,
            "title": topic,
            "description": f"Events {PRODUCERS[topic]} publishes, keyed by the aggregate id.",
            "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in on_topic},
        }
        operations[f"{PRODUCERS[topic]}.send.{topic}"] = {
            "action": "send",
            "title": f"{PRODUCERS[topic]} publishes to {topic}",
            "description": "Written to the outbox with the state change; relayed with an "
            "idempotent producer (acks=all).",
            "channel": {"$ref": f"#/channels/{_pointer(topic)}"},
            "messages": _message_refs(topic, on_topic),
        }
        dead = dead_letter_topic(topic)
        channels[dead] = {
            "address": dead,
            "title": dead,
            "description": f"Records of {topic} a consumer could not process: the original "
            "key, value and headers, with the error in rapport_dlq_* headers.",
            "messages": {"deadLetter": {"$ref": "#/components/messages/deadLetter"}},
        }
    topic_of = {event_type(p): p.topic for p in payloads}
    for service, router in sorted(routers.items()):
        for topic in router.topics:
            handled = [t for t in router.event_types if topic_of[t] == topic]
            operations[f"{service}.receive.{topic}"] = {
                "action": "receive",
                "title": f"{service} consumes {topic}",
                "description": f"Consumer group {service!r}: applied exactly once (inbox), "
                "retried, dead-lettered after repeated failure.",
                "channel": {"$ref": f"#/channels/{_pointer(topic)}"},
                "messages": _message_refs(topic, sorted(handled)),
            }
    messages["deadLetter"] = {
        "name": "deadLetter",
        "title": "Dead letter",
        "summary": "A record no consumer attempt could apply, as it was, plus the error.",
        "headers": DEAD_LETTER_HEADERS,
        "payload": {"description": "The failed record's value, unchanged (may be malformed)."},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Rapport events",
            "version": "1.0.0",
            "description": inspect.cleandoc(
                """Every event Rapport's services publish on Kafka, as CloudEvents 1.0 in the
                Kafka protocol binding's binary mode: attributes in ce_* headers, the payload
                as the JSON record value, the aggregate id as the record key. Generated by
                `python -m deploy.asyncapi`; do not edit by hand."""
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "The deployment's Kafka cluster (RAPPORT_KAFKA_BOOTSTRAP).",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }


def _pointer(name: str) -> str:
    """``name`` as a JSON pointer segment (topic names hold no ``/`` or ``~`` today)."""
    return name.replace("~", "~0").replace("/", "~1")


def _message_refs(topic: str, types: Iterable[str]) -> list[dict[str, str]]:
    return [{"$ref": f"#/channels/{_pointer(topic)}/messages/{t}"} for t in types]


def _message(payload: type[Payload]) -> dict[str, Any]:
    name = event_type(payload)
    headers = {**CLOUDEVENT_HEADERS, "properties": dict(CLOUDEVENT_HEADERS["properties"])}
    headers["properties"]["ce_type"] = {"type": "string", "const": name}
    message: dict[str, Any] = {
        "name": name,
        "title": payload.__name__,
        "contentType": "application/json",
        "headers": headers,
        "payload": {"$ref": SCHEMAS + payload.__name__},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": _key_description(payload)},
                "bindingVersion": "0.5.0",
            }
        },
    }
    if payload.__doc__ and payload.__doc__ is not Payload.__doc__:
        message["summary"] = inspect.cleandoc(payload.__doc__).split("\n\n")[0]
    return message


def _key_description(payload: type[Payload]) -> str:
    key_field = getattr(payload, "key_field", None)
    if key_field is not None:
        return f"The event's {key_field} (one aggregate's events stay in order)."
    # A payload without one key field says how it picks its key in partition_key().
    return inspect.cleandoc(inspect.getdoc(payload.partition_key) or "The aggregate id.")


def _payload_schemas(payload: type[Payload]) -> dict[str, Any]:
    """The JSON schema of the payload's data (``type`` travels as ce_type, not in the data),
    with the schemas it refers to, all as component schemas."""
    schema = payload.model_json_schema(ref_template=SCHEMAS + "{model}")
    nested: dict[str, Any] = schema.pop("$defs", {})
    schema["properties"].pop("type", None)
    if "type" in schema.get("required", []):
        schema["required"].remove("type")
    return {payload.__name__: schema, **nested}


def render(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def is_stale(path: Path = DOCUMENT_PATH) -> bool:
    """True when ``path`` does not hold what the catalog and the routers generate now."""
    return generated_file.is_stale(path, lambda: render(document()))


def main(argv: list[str] | None = None) -> int:
    """Write the document, or with ``--check`` exit 1 when the stored one is stale."""
    return generated_file.write_or_check(
        "deploy.asyncapi", DOCUMENT_PATH, lambda: render(document()), argv, __doc__
    )


if __name__ == "__main__":
    sys.exit(main())
