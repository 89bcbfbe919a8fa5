"""An ASGI app served by uvicorn on a loopback port, on an event loop in its own thread.

For synchronous callers (schemathesis sends its requests with ``requests``): the app keeps
one event loop for its whole life, lifespan included, whatever thread the test runs on.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from tests.support.served_app import ServedApp

T = TypeVar("T")


class ThreadedServer:
    """Serves ``app`` until :meth:`stop`; :meth:`run` runs a coroutine on the app's loop."""

    def __init__(self, app: Any, **config: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._served = ServedApp(app, lifespan="on", **config)
        self._stopping: Any = None

    @property
    def url(self) -> str:
        return self._served.url

    def start(self) -> ThreadedServer:
        self._thread.start()
        self.run(self._served.start())
        return self

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        """Run ``coroutine`` on the served app's event loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def request_stop(self) -> None:
        """Start shutting down (lifespan included) without waiting for it."""
        if self._stopping is None:
            self._stopping = asyncio.run_coroutine_threadsafe(self._served.stop(), self._loop)

    def stop(self) -> None:
        self.request_stop()
        self._stopping.result(60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()
