"""The owner directory logs a Kafka outage once, however long it lasts."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shared.room_owners import OwnerDirectory

NOWHERE = "127.0.0.1:1"  # nothing listens on port 1: every attempt is refused


async def test_an_outage_is_warned_about_once_then_retried_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="shared.room_owners")
    directory = OwnerDirectory(bootstrap_servers=NOWHERE, client_id="test", retry_seconds=0.01)

    def attempts() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "waiting for Kafka" in r.getMessage()]

    following = asyncio.create_task(directory.run())
    try:
        async with asyncio.timeout(60):  # bounds a hang only; three attempts take far less
            while len(attempts()) < 3:
                await asyncio.sleep(0.01)
    finally:
        directory.stop()
        await following

    levels = [r.levelno for r in attempts()]
    assert levels[0] == logging.WARNING
    assert set(levels[1:]) == {logging.DEBUG}
