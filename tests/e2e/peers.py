"""A participant as a browser would be: a signaling WebSocket and a real aiortc peer.

Candidates are taken out of the SDP and sent as separate ``ice-candidate`` messages (trickle
ICE), so the relay of offer, answer and ICE candidates through signaling is exercised.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress
from typing import Any

import websockets
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp

SUBPROTOCOL = "rapport.signal.v1"
# Closes after which a joined participant reconnects by itself and resumes (the room moved,
# signaling restarted or died, the gateway lost it): as the web client does.
RESUME_CODES = frozenset({4012, 1001, 1006, 1011, 1012, 1013, 1014})


def split_candidates(sdp: str) -> tuple[str, list[dict[str, Any]]]:
    """SDP without its candidate lines, and those candidates as signaling payloads."""
    lines, candidates = [], []
    mline_index, mid = -1, None
    for line in sdp.splitlines():
        if line.startswith("m="):
            mline_index += 1
            mid = None
        elif line.startswith("a=mid:"):
            mid = line[len("a=mid:") :]
        if line.startswith("a=candidate:"):
            candidates.append({"candidate": line[2:], "sdpMid": mid, "sdpMLineIndex": mline_index})
            continue
        if line.startswith("a=end-of-candidates"):
            continue
        lines.append(line)
    return "\r\n".join(lines) + "\r\n", candidates


class Participant:
    def __init__(self, name: str, url: str, token: str) -> None:
        self.name = name
        self.url = url
        self.token = token
        self.ws: websockets.ClientConnection | None = None
        self.frames_received = 0
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.close_code: int | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self.candidates_received = 0
        self.pc = self._peer_connection()
        # Reconnect and resume after a drop or a move (see RESUME_CODES).
        self.auto_resume = False
        self.resume_token: str | None = None
        self.display_name: str | None = None
        # Every resumption: (when the socket went, when the resumed answer came; monotonic),
        # and that answer.
        self.resumptions: list[tuple[float, float, dict[str, Any]]] = []
        self.resumed = asyncio.Condition()
        # Every message received, in order (what a test asserts never happened).
        self.seen: list[dict[str, Any]] = []

    def _peer_connection(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTrack(VideoStreamTrack())
        self.candidates_ended = False

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._tasks.append(asyncio.create_task(self._count_frames(track)))

        return pc

    async def new_peer_connection(self) -> None:
        """Replace the peer connection, as a browser does for a peer that is a new device
        (a takeover): the old one is closed."""
        old, self.pc = self.pc, self._peer_connection()
        await old.close()

    async def _count_frames(self, track: MediaStreamTrack) -> None:
        with suppress(MediaStreamError):
            while True:
                await track.recv()
                self.frames_received += 1

    async def connect(self, display_name: str) -> dict[str, Any]:
        """Open the socket, send join, return the first answer (waiting or joined)."""
        self.display_name = display_name
        self.ws = await self._open()
        self._tasks.append(asyncio.create_task(self._read()))
        return await self.expect("waiting", "joined")

    async def _open(self) -> websockets.ClientConnection:
        # Across a failover the gateway holds the handshake until the room has a new owner.
        ws = await websockets.connect(
            self.url,
            subprotocols=[SUBPROTOCOL],
            compression=None,
            open_timeout=60,  # type: ignore[list-item]
        )
        join: dict[str, Any] = {"type": "join", "token": self.token}
        if self.display_name is not None:
            join["display_name"] = self.display_name
        if self.resume_token is not None:
            join["resume"] = self.resume_token
        await ws.send(json.dumps(join))
        return ws

    async def _resume(self) -> bool:
        """Reconnect with backoff until the room takes us back; False if it never does."""
        went = asyncio.get_running_loop().time()
        delay = 0.05
        async with asyncio.timeout(90):
            while True:
                try:
                    ws = await self._open()
                    first = json.loads(await ws.recv())
                except websockets.ConnectionClosed as closed:
                    code = closed.rcvd.code if closed.rcvd is not None else None
                    if code is not None and code not in RESUME_CODES:
                        return False
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.5)
                    continue
                except (OSError, TimeoutError, websockets.InvalidStatus):
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 0.5)
                    continue
                if first["type"] not in ("waiting", "joined"):
                    await ws.close()
                    return False
                self.ws = ws
                self.seen.append({**first, "__resumed__": True})
                self.resumptions.append((went, asyncio.get_running_loop().time(), first))
                async with self.resumed:
                    self.resumed.notify_all()
                await self.messages.put({**first, "__resumed__": True})
                return True

    async def wait_resumed(self, count: int, timeout: float = 60.0) -> dict[str, Any]:
        """The answer of the ``count``-th resumption, once it happened."""
        async with asyncio.timeout(timeout), self.resumed:
            await self.resumed.wait_for(lambda: len(self.resumptions) >= count)
        return self.resumptions[count - 1][2]

    async def _read(self) -> None:
        while True:
            await self._read_socket()
            code = self.ws.close_code if self.ws is not None else None
            if not (self.auto_resume and (code is None or code in RESUME_CODES)):
                break
            if not await self._resume():
                break
        self.close_code = self.ws.close_code if self.ws is not None else None
        await self.messages.put({"type": "__closed__", "code": self.close_code})

    async def _read_socket(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                self.seen.append(message)
                if self.resume_token is None and message.get("resume_token"):
                    self.resume_token = message["resume_token"]
                if message["type"] == "offer":
                    await self._on_offer(message)
                elif message["type"] == "answer":
                    sdp = message["sdp"]
                    await self.pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
                elif message["type"] == "ice-candidate":
                    await self._on_candidate(message["candidate"])
                await self.messages.put(message)
        except websockets.ConnectionClosed:
            pass

    async def _on_offer(self, message: dict[str, Any]) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(message["sdp"], "offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        await self._send_description("answer", to=message.get("from"))

    async def _on_candidate(self, payload: dict[str, Any] | None) -> None:
        if self.candidates_ended:
            # A renegotiation without an ICE restart trickles the same candidates again;
            # the ICE agent (aioice) refuses any after end-of-candidates, and needs none.
            return
        if payload is None:
            self.candidates_ended = True
            await self.pc.addIceCandidate(None)
            return
        candidate = candidate_from_sdp(payload["candidate"].split(":", 1)[1])
        candidate.sdpMid = payload["sdpMid"]
        candidate.sdpMLineIndex = payload["sdpMLineIndex"]
        await self.pc.addIceCandidate(candidate)
        self.candidates_received += 1

    async def _send_description(self, kind: str, to: str | None = None) -> None:
        # ``to`` addresses one member (needed once a call has more than two).
        address = {"to": to} if to is not None else {}
        sdp, candidates = split_candidates(self.pc.localDescription.sdp)
        await self.send({"type": kind, "sdp": sdp, **address})
        for candidate in candidates:
            await self.send({"type": "ice-candidate", "candidate": candidate, **address})
        await self.send({"type": "ice-candidate", "candidate": None, **address})

    async def offer(self, to: str | None = None) -> None:
        """The impolite side (the clinician) starts the negotiation (with ``to``: with that
        member only)."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self._send_description("offer", to=to)

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(message))

    async def expect(self, *types: str, timeout: float = 15.0) -> dict[str, Any]:
        """The next message of one of ``types``, skipping others."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.messages.get()
                if message["type"] in types:
                    return message
                if message["type"] == "__closed__":
                    raise ConnectionError(f"{self.name}: closed with {message['code']}")

    async def close_socket(self) -> None:
        """Close only the signaling socket (cleanly) and forget what it received, so that
        :meth:`connect` can be called again; the peer connection stays as it is."""
        for task in self._tasks:
            if task.get_coro().__name__ == "_read":  # type: ignore[union-attr]
                task.cancel()
        if self.ws is not None:
            await self.ws.close()
        self.messages = asyncio.Queue()

    def drop_socket(self) -> None:
        """A network drop: the TCP connection goes away without a WebSocket close frame."""
        assert self.ws is not None
        self.ws.transport.abort()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pc.close()
        if self.ws is not None:
            await self.ws.close()
