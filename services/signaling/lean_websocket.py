"""uvicorn's sans-I/O WebSocket protocol, trimmed for many idle sockets.

An idle signaling socket costs what the server keeps for it. Measured with tracemalloc per
idle socket (bench/bench_signaling_idle.py), uvicorn's ``WebSocketsSansIOProtocol`` keeps two
things signaling does not need once the handshake is done:

- the parsed handshake request and the response (their header structures, about 5 KiB);
- an ``asyncio.Queue`` and an ``asyncio.Event`` (five deques between them, about 1.9 KiB),
  where one reader and one flag need a slot or two.

:class:`LeanWebSocketProtocol` drops the first after the handshake and replaces the second
with :class:`Inbox` and :class:`Gate`, which do exactly what the protocol asks of them.
Everything else is uvicorn's, unchanged (the unit tests serve every socket through it).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class Inbox:
    """A queue with one reader: ``put_nowait``, ``get`` and ``empty``, as uvicorn uses them.

    Holds no container while empty (an ``asyncio.Queue`` holds four deques all along).
    """

    __slots__ = ("_items", "_reader")

    def __init__(self) -> None:
        self._items: deque[Any] | None = None
        self._reader: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = deque()
        self._items.append(item)
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            reader = asyncio.get_running_loop().create_future()
            self._reader = reader
            try:
                await reader
            finally:
                self._reader = None
        assert self._items is not None
        item = self._items.popleft()
        if not self._items:
            self._items = None
        return item

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items) if self._items else 0


class Gate:
    """An ``asyncio.Event`` (``set``, ``clear``, ``is_set``, ``wait``) that holds no list of
    waiters unless someone waits (here: a send while the transport's buffer is full)."""

    __slots__ = ("_open", "_waiters")

    def __init__(self, *, is_open: bool = True) -> None:
        self._open = is_open
        self._waiters: list[asyncio.Future[None]] | None = None

    def set(self) -> None:
        self._open = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._open = False

    def is_set(self) -> bool:
        return self._open

    async def wait(self) -> bool:
        if self._open:
            return True
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        return True


class LeanWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O protocol keeping less per socket (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]
        self.writable = Gate()  # type: ignore[assignment]

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # The response went out: neither it nor the request is read again. The request
            # is emptied rather than only dropped: the websockets parser's generator keeps a
            # reference to it for the life of the connection.
            self.request.headers.clear()
            self.request = None  # type: ignore[assignment]
            self.response = None  # type: ignore[assignment]
