"""The trimmed protocol's queue and flag behave as uvicorn needs them to."""

from __future__ import annotations

import asyncio

import pytest

from services.signaling.lean_websocket import Gate, Inbox


async def test_the_inbox_hands_items_over_in_order_and_waits_when_empty() -> None:
    inbox = Inbox()
    assert inbox.empty() and inbox.qsize() == 0
    inbox.put_nowait(1)
    inbox.put_nowait(2)
    assert inbox.qsize() == 2
    assert await inbox.get() == 1
    assert await inbox.get() == 2
    assert inbox.empty()

    waiting = asyncio.create_task(inbox.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    inbox.put_nowait(3)
    assert await waiting == 3


async def test_a_cancelled_read_leaves_the_inbox_usable() -> None:
    inbox = Inbox()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await inbox.get()
    inbox.put_nowait("after")
    assert await inbox.get() == "after"


async def test_the_gate_blocks_while_cleared_and_lets_everyone_through_when_set() -> None:
    gate = Gate()
    assert gate.is_set() and await gate.wait()
    gate.clear()
    waiters = [asyncio.create_task(gate.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    gate.set()
    assert await asyncio.gather(*waiters) == [True, True, True]


async def test_a_cancelled_wait_is_forgotten() -> None:
    gate = Gate(is_open=False)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await gate.wait()
    gate.set()
    assert gate.is_set()
