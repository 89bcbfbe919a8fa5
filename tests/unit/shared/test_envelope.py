"""The CloudEvents envelope and the catalog's discriminated union."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from shared.events.catalog import (
    AppointmentScheduled,
    GoalUpdated,
    SessionEnded,
    catalog_types,
    dead_letter_topic,
)
from shared.events.envelope import MalformedEvent, decode, encode


def _ended() -> SessionEnded:
    return SessionEnded(
        session_id=uuid.uuid4(), ended_by=uuid.uuid4(), reason="ended", at=datetime.now(UTC)
    )


def test_round_trip_keeps_type_id_and_payload() -> None:
    payload = _ended()
    record = encode(payload, source="/rapport/signaling")
    envelope = decode(record.key, record.value, record.headers)
    assert envelope.payload == payload
    assert envelope.type == "rapport.signaling.session.ended.v1"
    assert envelope.source == "/rapport/signaling"
    assert envelope.id == dict(record.headers)["ce_id"].decode()


def test_binary_mode_headers_and_key_follow_the_kafka_binding() -> None:
    payload = _ended()
    record = encode(payload, source="/rapport/signaling")
    headers = dict(record.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == payload.type.encode()
    assert headers["content-type"] == b"application/json"
    assert record.key == str(payload.session_id).encode()
    assert record.topic == "rapport.signaling"
    # The type travels as an attribute, not inside the data.
    assert b'"type"' not in record.value


@pytest.mark.parametrize(
    ("value", "headers"),
    [
        (b"not json", None),
        (b"{}", [("ce_type", b"rapport.unknown.v1")]),
        (b'{"session_id": "nope"}', None),
        (b"[1, 2]", None),
    ],
)
def test_malformed_records_raise_malformed_event(value: bytes, headers: list | None) -> None:
    good = encode(_ended(), source="/x")
    record_headers = headers if headers is not None else good.headers
    if headers is not None:
        record_headers = [h for h in good.headers if h[0] != "ce_type"] + headers
    with pytest.raises(MalformedEvent):
        decode(good.key, value, record_headers)


def test_goal_update_event_cannot_carry_note_text() -> None:
    with pytest.raises(ValueError, match="note"):
        GoalUpdated(
            goal_update_id=uuid.uuid4(),
            goal_id=uuid.uuid4(),
            session_id=None,
            clinician_id=uuid.uuid4(),
            client_id=uuid.uuid4(),
            author_role="client",
            progress=4,
            recorded_at=datetime.now(UTC),
            note="I felt anxious",  # type: ignore[call-arg]
        )


def test_catalog_lists_versioned_dotted_types() -> None:
    types = catalog_types()
    assert AppointmentScheduled.model_fields["type"].default in types
    assert all(t.startswith("rapport.") and t.rsplit(".", 1)[1].startswith("v") for t in types)
    assert dead_letter_topic("rapport.records") == "rapport.records.dlq"
