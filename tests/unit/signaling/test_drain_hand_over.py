"""A drain moves each room's clients as soon as that room's successor holds it: with two
successors, the quicker one's rooms do not wait for the other's. The owner claims are fed to the
directory as the owners topic would deliver them (no broker: the drain only reads them)."""

from __future__ import annotations

import asyncio

from services.signaling.ownership import RoomOwnership
from shared.room_owners import OwnerClaim, OwnerDirectory

PARTITIONS = 6


def _draining_owner() -> tuple[RoomOwnership, OwnerDirectory]:
    directory = OwnerDirectory(bootstrap_servers="127.0.0.1:1", client_id="test")
    ownership = RoomOwnership(
        bootstrap_servers="127.0.0.1:1",
        advertised_url="http://first",
        partitions=PARTITIONS,
        replication_factor=1,
        session_timeout_ms=6_000,
        heartbeat_interval_ms=100,
        directory=directory,
    )
    # As after an assignment of generation 5 (no broker here: nothing else is running).
    ownership._owned = {0, 1, 2, 3}  # noqa: SLF001
    ownership.generation = 5
    ownership.member = "first"
    return ownership, directory


def _claim(partition: int, member: str, generation: int, *, ready: bool = True) -> OwnerClaim:
    return OwnerClaim(
        partition=partition,
        partitions=PARTITIONS,
        url=f"http://{member}",
        generation=generation,
        member=member,
        ready=ready,
    )


async def _next(handed: asyncio.Queue[set[int]]) -> set[int]:
    async with asyncio.timeout(5):
        return await handed.get()


async def test_each_successor_s_rooms_move_as_soon_as_it_holds_them() -> None:
    ownership, directory = _draining_owner()
    handed: asyncio.Queue[set[int]] = asyncio.Queue()

    async def on_handed(partitions: set[int]) -> None:
        await handed.put(partitions)

    draining = asyncio.create_task(ownership.drain(30, on_handed))
    await asyncio.sleep(0)
    assert ownership.draining and not ownership.owned
    # The drain's own withdrawal, a claim of the old generation and one not ready: none is
    # a successor holding the partition.
    directory.apply(_claim(0, "first", 5, ready=False))
    directory.apply(_claim(1, "second", 5))
    directory.apply(_claim(2, "third", 6, ready=False))
    await asyncio.sleep(0.05)
    assert handed.empty()

    directory.apply(_claim(0, "second", 6))
    directory.apply(_claim(1, "second", 6))
    assert await _next(handed) == {0, 1}
    # The third still rebuilds its share: the drain waits for it, the second's went ahead.
    assert not draining.done()

    directory.apply(_claim(2, "third", 6))
    directory.apply(_claim(3, "third", 6))
    assert await _next(handed) == {2, 3}
    async with asyncio.timeout(5):
        await draining


async def test_a_drain_without_successors_gives_up_after_its_wait() -> None:
    ownership, _ = _draining_owner()
    handed: list[set[int]] = []

    async def on_handed(partitions: set[int]) -> None:
        handed.append(partitions)

    async with asyncio.timeout(5):
        await ownership.drain(0.1, on_handed)
    assert handed == []
