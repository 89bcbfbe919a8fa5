"""The pre-call echo test: a real aiortc peer on the client side gets its own frames back."""

from __future__ import annotations

import asyncio
import fractions
import uuid
from contextlib import suppress

import av
from aiortc import (
    AudioStreamTrack,
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError

from tests.unit.signaling.conftest import Peer, RunningSignaling, StartSignaling

# A colour no default source produces (a brick red, inside the RGB gamut).
LUMA, CB, CR = 110, 90, 180
WIDTH, HEIGHT = 160, 120


class TintedCamera(VideoStreamTrack):
    """A camera that films one tinted colour."""

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
        frame.planes[0].update(bytes([LUMA]) * (frame.planes[0].line_size * HEIGHT))
        frame.planes[1].update(bytes([CB]) * (frame.planes[1].line_size * HEIGHT // 2))
        frame.planes[2].update(bytes([CR]) * (frame.planes[2].line_size * HEIGHT // 2))
        frame.pts = pts
        frame.time_base = time_base if time_base else fractions.Fraction(1, 90_000)
        return frame


def _mean(plane: av.video.plane.VideoPlane) -> float:
    """The plane's mean value, over its visible pixels only (rows may be padded)."""
    data, stride, width = bytes(plane), plane.line_size, plane.width
    rows = [data[y * stride : y * stride + width] for y in range(plane.height)]
    return sum(sum(row) for row in rows) / (plane.width * plane.height)


class EchoClient:
    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc.addTrack(TintedCamera())
        self.pc.addTrack(AudioStreamTrack())
        self.video_frames: list[tuple[float, float, float]] = []
        self.audio_frames = 0
        self._tasks: list[asyncio.Task[None]] = []

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._tasks.append(asyncio.create_task(self._watch(track)))

    async def _watch(self, track: MediaStreamTrack) -> None:
        with suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame):
                    planes = frame.reformat(format="yuv420p").planes
                    self.video_frames.append((_mean(planes[0]), _mean(planes[1]), _mean(planes[2])))
                else:
                    self.audio_frames += 1

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pc.close()


async def _waiting_client(signaling: RunningSignaling) -> Peer:
    session_id = await signaling.schedule(uuid.uuid4(), client_id := uuid.uuid4())
    peer, waiting = await signaling.join(client_id, "client", session_id)
    assert waiting["type"] == "waiting"
    return peer


async def test_the_echo_test_returns_the_clients_own_frames(signaling: RunningSignaling) -> None:
    peer = await _waiting_client(signaling)  # a client tests while they wait
    client = EchoClient()
    try:
        await peer.send({"type": "echo-test", "sdp": await client.offer()})
        answer = await peer.expect("echo-test-answer", within=15)
        assert answer["max_seconds"] == 30
        await client.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        async with asyncio.timeout(30):
            while len(client.video_frames) < 10 or client.audio_frames < 10:
                await asyncio.sleep(0.1)
        # The frames that come back are the tinted ones the client sent (lossy codec: close).
        luma, cb, cr = client.video_frames[-1]
        assert abs(luma - LUMA) < 12 and abs(cb - CB) < 12 and abs(cr - CR) < 12, (luma, cb, cr)

        await peer.send({"type": "echo-test-stop"})
        assert await peer.expect("echo-test-ended") == {
            "type": "echo-test-ended",
            "reason": "stopped",
        }
    finally:
        await client.close()


async def test_echo_tests_are_limited_in_number_and_time(start_signaling: StartSignaling) -> None:
    signaling = await start_signaling(echo_test_max_concurrent=1, echo_test_max_seconds=1)
    first, second = await _waiting_client(signaling), await _waiting_client(signaling)
    clients = [EchoClient(), EchoClient()]
    try:
        await first.send({"type": "echo-test", "sdp": await clients[0].offer()})
        await first.expect("echo-test-answer", within=15)
        await first.send({"type": "echo-test", "sdp": await clients[0].offer()})
        assert (await first.expect("error"))["code"] == "echo-test-unavailable"  # one each
        await second.send({"type": "echo-test", "sdp": await clients[1].offer()})
        assert (await second.expect("error"))["code"] == "echo-test-unavailable"  # process full
        assert (await first.expect("echo-test-ended", within=10))["reason"] == "time-limit"
        # Its time is up, so the slot is free again.
        await second.send({"type": "echo-test", "sdp": await clients[1].offer()})
        await second.expect("echo-test-answer", within=15)
        await second.send({"type": "echo-test", "sdp": "not sdp"})
        assert (await second.expect("error"))["code"] == "echo-test-unavailable"
    finally:
        for client in clients:
            await client.close()
