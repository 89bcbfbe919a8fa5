"""Room ownership on a real broker: the consumer group shares the partitions out, a new owner
rebuilds the rooms it gains from the rooms topic, and the owners' claims say who holds what."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from services.signaling.ownership import RoomOwnership
from services.signaling.room import Room, RoomState
from shared.room_owners import OwnerDirectory

PARTITIONS = 6


async def _until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


class Member:
    """One signaling process's ownership, with what it was told."""

    def __init__(self, bootstrap: str, run: str, name: str) -> None:
        self.directory = OwnerDirectory(
            bootstrap_servers=bootstrap, client_id=name, topic=f"owners-{run}"
        )
        self.ownership = RoomOwnership(
            bootstrap_servers=bootstrap,
            advertised_url=f"http://{name}",
            partitions=PARTITIONS,
            replication_factor=1,
            session_timeout_ms=6_000,
            heartbeat_interval_ms=500,
            directory=self.directory,
            rooms_topic=f"rooms-{run}",
            group_id=f"group-{run}",
        )
        self.gained: list[RoomState] = []
        self.lost: set[int] = set()
        self.ownership.bind(on_gained=self._gain, on_lost=self._lose, current=lambda _: None)
        self.tasks = [
            asyncio.create_task(self.directory.run()),
            asyncio.create_task(self.ownership.run()),
        ]

    async def _gain(self, states: list[RoomState]) -> None:
        self.gained += states

    async def _lose(self, partitions: set[int]) -> None:
        self.lost |= partitions

    def ready(self) -> bool:
        return self.ownership._settled.is_set() and bool(self.ownership.owned)  # noqa: SLF001

    async def stop(self) -> None:
        self.ownership.stop()
        self.directory.stop()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def _room(session_id: uuid.UUID) -> Room:
    room = Room(session_id, clinician_id=uuid.uuid4(), client_id=uuid.uuid4())
    room.check_in(room.clinician_id, 1, "Dr. Lee", datetime.now(UTC))
    return room


async def test_partitions_are_shared_out_and_a_successor_rebuilds_the_rooms(
    kafka_bootstrap: str,
) -> None:
    run = uuid.uuid4().hex[:8]
    first = Member(kafka_bootstrap, run, "first")
    second: Member | None = None
    try:
        await _until(first.ready)
        assert first.ownership.owned == frozenset(range(PARTITIONS))
        sessions = [uuid.uuid4() for _ in range(12)]
        for session_id in sessions:
            await first.ownership.save(session_id, _room(session_id).snapshot())

        second = Member(kafka_bootstrap, run, "second")
        await _until(lambda: second.ready() and first.ready() and len(first.ownership.owned) < 6)

        def second_owns() -> frozenset[int]:
            assert second is not None
            return second.ownership.owned

        both = first.ownership.owned | second.ownership.owned
        assert both == frozenset(range(PARTITIONS))
        assert not first.ownership.owned & second.ownership.owned
        # The second rebuilt exactly the rooms of the partitions it gained.
        gained = {state.session_id for state in second.gained}
        assert gained == {s for s in sessions if first.ownership.partition(s) in second_owns()}
        assert first.lost == set(second.ownership.owned)

        # The owners' claims route every session to its owner.
        directory = second.directory

        def owner(session_id: uuid.UUID) -> str:
            partition = first.ownership.partition(session_id)
            return "http://second" if partition in second.ownership.owned else "http://first"

        await _until(lambda: all(directory.owner_of(s) == owner(s) for s in sessions))

        # The first drains: the second takes every partition and every room.
        held = first.ownership.owned
        handed: list[set[int]] = []

        async def on_handed(partitions: set[int]) -> None:
            # Only once the successor holds them (and has rebuilt their rooms).
            assert partitions <= second_owns()
            handed.append(partitions)

        await first.ownership.drain(30, on_handed)
        assert set().union(*handed) == held
        await _until(lambda: second.ownership.owned == frozenset(range(PARTITIONS)))
        assert {state.session_id for state in second.gained} == set(sessions)
        # The second's claims reach its directory through the owners topic, in their own time.
        await _until(lambda: all(directory.owner_of(s) == "http://second" for s in sessions))
    finally:
        await first.stop()
        if second is not None:
            await second.stop()
