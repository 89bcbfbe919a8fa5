"""Where a process keeps its live rooms.

A room lives in exactly one signaling process (the gateway routes by session id), so the
registry is an interface with one local, in-memory implementation today; a distributed one
(routing a join to the process that holds the room) can stand behind the same methods.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from services.signaling.room import Room


class RoomRegistry(Protocol):
    """The live rooms of this process, and the turn-taking that keeps each one consistent."""

    def get(self, session_id: uuid.UUID) -> Room | None: ...

    def add(self, room: Room) -> None: ...

    def remove(self, session_id: uuid.UUID) -> None: ...

    def rooms(self) -> Iterable[Room]:
        """Every live room of this process."""
        ...

    def exclusive(self, session_id: uuid.UUID) -> AbstractAsyncContextManager[None]:
        """Hold the room's turn: changes to one room (and their commit and delivery) run one
        at a time, so every participant sees them in the same order."""
        ...

    def __len__(self) -> int: ...


class _Turn:
    __slots__ = ("lock", "holders")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.holders = 0


class LocalRoomRegistry:
    """Rooms in this process's memory."""

    def __init__(self) -> None:
        self._rooms: dict[uuid.UUID, Room] = {}
        # Locks exist only while someone holds or waits for them, so a flood of joins to
        # random session ids leaves nothing behind.
        self._turns: dict[uuid.UUID, _Turn] = {}

    def get(self, session_id: uuid.UUID) -> Room | None:
        return self._rooms.get(session_id)

    def add(self, room: Room) -> None:
        self._rooms[room.session_id] = room

    def remove(self, session_id: uuid.UUID) -> None:
        self._rooms.pop(session_id, None)

    def rooms(self) -> Iterable[Room]:
        return list(self._rooms.values())

    @asynccontextmanager
    async def exclusive(self, session_id: uuid.UUID) -> AsyncIterator[None]:
        turn = self._turns.get(session_id)
        if turn is None:
            turn = self._turns[session_id] = _Turn()
        turn.holders += 1
        try:
            async with turn.lock:
                yield
        finally:
            turn.holders -= 1
            if turn.holders == 0:
                del self._turns[session_id]

    def __len__(self) -> int:
        return len(self._rooms)
