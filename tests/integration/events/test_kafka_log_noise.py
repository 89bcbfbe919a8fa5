"""aiokafka's reconnect noise stays out of the log; its real errors do not.

A broker that is down makes aiokafka log each reconnect attempt at ERROR, thousands of lines a
minute, so those lines are filtered (shared/logging.py); an error about something else, here a
topic name the broker refuses, must still be logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, UnknownTopicOrPartitionError

from shared.logging import configure_logging


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_reconnect_noise_is_dropped_and_a_real_error_still_logged(
    kafka_bootstrap: str, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("test")
    capsys.readouterr()

    unreachable = AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{_closed_port()}")
    with pytest.raises(KafkaConnectionError):
        await unreachable.start()
    await unreachable.stop()

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=3000)
    await producer.start()
    try:
        # The broker answers the metadata request with INVALID_TOPIC_EXCEPTION, which aiokafka
        # logs at ERROR before it gives up (or keeps asking): the log line is what counts here.
        with contextlib.suppress(TimeoutError, UnknownTopicOrPartitionError):
            await asyncio.wait_for(producer.partitions_for("no/such topic"), timeout=5)
    finally:
        await producer.stop()

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    kafka_lines = [line for line in lines if line["logger"].startswith("aiokafka")]
    assert not [line for line in kafka_lines if "Unable connect" in line["message"]]
    refused = [line for line in kafka_lines if "is not a valid topic name" in line["message"]]
    assert refused and refused[0]["level"] == "ERROR"
