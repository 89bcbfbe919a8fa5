"""The pre-call test: a server-side WebRTC peer (aiortc) that sends a client's own audio and
video back, so they can see and hear that camera, microphone and network work before the
session.

Media never passes through signaling for a real call; this peer is the one exception, so it
is strictly limited: a few at a time per process, one per connection, and each closed after
a short time limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

log = logging.getLogger(__name__)


class EchoTestUnavailable(Exception):
    """No echo peer can be started now (the process is at its limit, or the SDP is unusable)."""


OnEnded = Callable[[str], Awaitable[None]]


class EchoTest:
    """One running echo peer."""

    __slots__ = ("_pc", "_timer", "_on_ended", "_ended")

    def __init__(self, pc: RTCPeerConnection, on_ended: OnEnded) -> None:
        self._pc = pc
        self._timer: asyncio.TimerHandle | None = None
        self._on_ended = on_ended
        self._ended = False

    async def stop(self, reason: str) -> None:
        """Close the peer connection (once) and report why."""
        if self._ended:
            return
        self._ended = True
        if self._timer is not None:
            self._timer.cancel()
        await self._pc.close()
        await self._on_ended(reason)


class EchoTestLab:
    """Starts echo peers within the limits and stops them when their time is up."""

    def __init__(self, *, max_concurrent: int, max_seconds: float) -> None:
        self.max_concurrent = max_concurrent
        self.max_seconds = max_seconds
        self._running: set[EchoTest] = set()
        self._stopping: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._running)

    async def start(self, offer_sdp: str, on_ended: OnEnded) -> tuple[EchoTest, str]:
        """Answer ``offer_sdp`` (with its candidates, not trickled) with a peer that echoes
        every incoming track; returns the test and the answer SDP (with candidates)."""
        if len(self._running) >= self.max_concurrent:
            raise EchoTestUnavailable("the pre-call test is busy: try again in a minute")
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

        @pc.on("track")
        def echo(track: MediaStreamTrack) -> None:
            pc.addTrack(track)

        async def ended(reason: str) -> None:
            self._running.discard(test)
            await on_ended(reason)

        test = EchoTest(pc, ended)
        self._running.add(test)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as unusable:  # aiortc raises ValueError and others on bad SDP
            self._running.discard(test)
            test._ended = True
            await pc.close()
            raise EchoTestUnavailable(f"the offer cannot be answered: {unusable}") from None

        @pc.on("connectionstatechange")
        async def gone() -> None:
            if pc.connectionState in ("failed", "closed"):
                await test.stop("disconnected")

        test._timer = asyncio.get_running_loop().call_later(self.max_seconds, self._time_up, test)
        return test, pc.localDescription.sdp

    def _time_up(self, test: EchoTest) -> None:
        task = asyncio.create_task(test.stop("time-limit"))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def stop_all(self) -> None:
        """Shutdown: stop every running test."""
        await asyncio.gather(*(t.stop("shutdown") for t in list(self._running)))
