"""A readiness check with a grace period: a blip is reported, not failed; an outage fails."""

from __future__ import annotations

import asyncio

import pytest

from shared.observability import GraceCheck, WithinGrace


class Dependency:
    """A dependency that answers or not, on a clock the test moves."""

    def __init__(self) -> None:
        self.up = True
        self.hangs = False
        self.now = 0.0

    async def check(self) -> None:
        if self.hangs:
            await asyncio.Event().wait()
        if not self.up:
            raise ConnectionError("unreachable")


async def test_failures_within_the_grace_are_reported_and_past_it_raised() -> None:
    dependency = Dependency()
    check = GraceCheck(dependency.check, 30.0, clock=lambda: dependency.now)
    await check()

    dependency.up = False
    dependency.now = 100.0
    with pytest.raises(WithinGrace, match="failing for 0s"):
        await check()
    dependency.now = 129.0
    with pytest.raises(WithinGrace, match="failing for 29s"):
        await check()
    dependency.now = 130.0
    with pytest.raises(ConnectionError):
        await check()

    # Back: the next outage gets a full grace period again.
    dependency.up = True
    await check()
    dependency.up = False
    dependency.now = 200.0
    with pytest.raises(WithinGrace):
        await check()


async def test_a_probe_that_hangs_counts_as_failing() -> None:
    dependency = Dependency()
    dependency.hangs = True
    check = GraceCheck(dependency.check, 0.0, timeout_seconds=0.01, clock=lambda: 0.0)
    with pytest.raises(TimeoutError):
        await check()
