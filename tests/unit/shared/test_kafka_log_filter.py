"""Which aiokafka lines the log drops: a broker out of reach, nothing else.

(tests/integration/events/test_kafka_log_noise.py shows it with aiokafka and a real broker.)
"""

from __future__ import annotations

import logging

import pytest
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    NodeNotReadyError,
    RecordTooLargeError,
)

from shared.logging import KafkaReconnectNoise


def _record(
    logger: str, message: str, *args: object, level: int = logging.ERROR
) -> logging.LogRecord:
    return logging.LogRecord(logger, level, __file__, 1, message, args, None)


@pytest.mark.parametrize(
    "record",
    [
        _record(
            "aiokafka", 'Unable connect to "%s:%s": %s', "kafka", 9092, ConnectionRefusedError()
        ),
        _record("aiokafka", "Unable connect to node with id %s: %s", 1, OSError("unreachable")),
        _record("aiokafka", "Unable to update metadata from %s", [1]),
        _record(
            "aiokafka.consumer.fetcher", "Failed fetch messages from %s: %s", 1, NodeNotReadyError()
        ),
        _record(
            "aiokafka.producer.sender", "Got error produce response: %s", KafkaConnectionError()
        ),
    ],
)
def test_reconnect_noise_is_dropped(record: logging.LogRecord) -> None:
    assert KafkaReconnectNoise().filter(record) is False


@pytest.mark.parametrize(
    "record",
    [
        # The same messages with an error that is not about reaching the broker.
        _record(
            "aiokafka.producer.sender", "Got error produce response: %s", RecordTooLargeError()
        ),
        _record(
            "aiokafka.consumer.group_coordinator",
            "Group Coordinator Request failed: %s",
            GroupAuthorizationFailedError(),
        ),
        # Any other aiokafka error.
        _record("aiokafka.cluster", "%r is not a valid topic name", "no/such topic"),
        _record("aiokafka.consumer.group_coordinator", "Unexpected error in coordinator routine"),
        # Not aiokafka at all.
        _record("shared.events.outbox", "Unable to update metadata from %s", [1]),
    ],
)
def test_everything_else_is_kept(record: logging.LogRecord) -> None:
    assert KafkaReconnectNoise().filter(record) is True
