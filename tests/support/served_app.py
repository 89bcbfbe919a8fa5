"""An ASGI app served by uvicorn on a free loopback port, inside the caller's event loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import uvicorn


class ServedApp:
    """An ASGI app served by uvicorn on a free loopback port, inside the test's event loop."""

    def __init__(
        self,
        app: Any,
        *,
        server: Callable[[uvicorn.Config], uvicorn.Server] = uvicorn.Server,
        **config: Any,
    ) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self._server = server(
            uvicorn.Config(
                app,
                log_config=None,
                access_log=False,
                log_level="warning",
                # Requests the tests abandon on purpose must not hold up the teardown.
                timeout_graceful_shutdown=1,
                **config,
            )
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> ServedApp:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._socket.close()
