"""Waiting on events in tests, bounded only against a hang.

Tests wait for the thing itself (an answer, a message, a stored state), never for a time
budget: how fast something happens on a loaded machine says nothing about whether it is
right. The bound exists so a test that would wait forever fails, and says it hung.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

# Far beyond anything the suite waits for when it works, on a busy two-core machine.
HANG_SECONDS = 60.0


@asynccontextmanager
async def not_hung(what: str, seconds: float = HANG_SECONDS) -> AsyncIterator[None]:
    """Fail with "<what> hung" if the block has not finished after ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise AssertionError(f"{what} hung: nothing after {seconds:g}s") from None


async def until(
    condition: Callable[[], Awaitable[bool]],
    what: str,
    *,
    seconds: float = HANG_SECONDS,
    interval: float = 0.05,
) -> None:
    """Poll ``condition`` (state read back from a running system) until it holds."""
    async with not_hung(f"waiting until {what}", seconds):
        # Polling on purpose: the condition is state another process stores.
        while not await condition():  # noqa: ASYNC110
            await asyncio.sleep(interval)
