"""The local room registry: rooms by session, and one change at a time per room."""

from __future__ import annotations

import asyncio
import uuid

from services.signaling.registry import LocalRoomRegistry
from services.signaling.room import Room


def test_rooms_are_found_by_session_and_removed() -> None:
    registry = LocalRoomRegistry()
    room = Room(uuid.uuid4(), clinician_id=uuid.uuid4(), client_id=uuid.uuid4())
    registry.add(room)
    assert registry.get(room.session_id) is room
    assert len(registry) == 1
    registry.remove(room.session_id)
    registry.remove(room.session_id)  # removing twice is harmless
    assert registry.get(room.session_id) is None
    assert len(registry) == 0


async def test_changes_to_one_room_take_turns_and_other_rooms_do_not_wait() -> None:
    registry = LocalRoomRegistry()
    first, second = uuid.uuid4(), uuid.uuid4()
    order: list[str] = []
    inside = asyncio.Event()

    async def slow_change() -> None:
        async with registry.exclusive(first):
            order.append("slow starts")
            inside.set()
            await asyncio.sleep(0.05)
            order.append("slow ends")

    async def same_room() -> None:
        await inside.wait()
        async with registry.exclusive(first):
            order.append("same room")

    async def other_room() -> None:
        await inside.wait()
        async with registry.exclusive(second):
            order.append("other room")

    await asyncio.gather(slow_change(), same_room(), other_room())
    assert order == ["slow starts", "other room", "slow ends", "same room"]
    # The turns of rooms nobody is changing are forgotten.
    assert registry._turns == {}
