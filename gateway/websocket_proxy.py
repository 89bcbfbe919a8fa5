"""WebSocket relay to signaling, on the ``websockets`` client library.

The gateway opens the upstream connection first, offering the client's subprotocols, and only
then accepts the client with the subprotocol signaling chose, so the negotiation is
signaling's. Frames are relayed as they are (text stays text, binary stays binary) without
compression, and each side's close code and reason reach the other side. Each hop keeps its own
keepalive pings. One extra task per connection carries the upstream-to-client direction.

Backpressure: each direction holds at most ``QUEUED_MESSAGES`` received messages; a side that
stops reading makes the relay wait on its write, which stops the relay reading the other side,
whose sender the TCP window then holds back. No queue grows with what a peer sends.

Until the client is accepted its handshake is held open: uvicorn's ``websockets`` protocol
drops a handshake unanswered after 10 s (the websockets server's ``open_timeout``, which
uvicorn does not expose), and answers the ones still held when it shuts down with 500. So
finding and connecting to signaling has a budget below that (``handshake_seconds``), and
:class:`HeldHandshakes` lets the server refuse the held ones with 503 before it shuts down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from starlette.types import Message, Receive, Scope, Send
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.frames import CloseCode
from websockets.http11 import Response
from websockets.typing import Subprotocol

from gateway.errors import GatewayShuttingDown, UpstreamUnavailable
from gateway.proxy import SET_AT_THE_EDGE, RawHeaders, end_to_end, path_and_query

# The handshake headers the client library writes itself; subprotocols are passed explicitly
# and extensions are never negotiated (no per-message compression on signaling sockets).
HANDSHAKE_HEADERS: frozenset[bytes] = frozenset(
    {
        b"host",
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-protocol",
        b"sec-websocket-extensions",
        b"sec-websocket-accept",
    }
)
_NOT_PASSED_ON = HANDSHAKE_HEADERS | SET_AT_THE_EDGE

# Messages received from one side and not yet relayed to the other, per direction.
QUEUED_MESSAGES = 8

# Codes that are never sent in a close frame (RFC 6455 §7.4.1), and what to send instead.
_NOT_ON_THE_WIRE_TO_CLIENT: dict[int, int] = {
    CloseCode.NO_STATUS_RCVD: CloseCode.NORMAL_CLOSURE,
    # Signaling vanished without a closing handshake: the gateway reports a bad upstream.
    CloseCode.ABNORMAL_CLOSURE: CloseCode.BAD_GATEWAY,
    CloseCode.TLS_HANDSHAKE: CloseCode.BAD_GATEWAY,
}


def close_code_for_client(code: int) -> int:
    """The code to close the client with after signaling closed with ``code``."""
    return _NOT_ON_THE_WIRE_TO_CLIENT.get(code, code)


@dataclass(frozen=True, slots=True)
class RelayLimits:
    """Timeouts (seconds) for the upstream handshake and close, and the largest message.

    ``handshake_seconds``: the longest a client's handshake is held while the gateway finds
    and connects to signaling, before it is answered 503.
    """

    open_timeout: float
    close_timeout: float
    max_message_bytes: int
    handshake_seconds: float = 8.0


T = TypeVar("T")


class HeldHandshakes:
    """The client handshakes held open while the gateway finds and connects to signaling.

    uvicorn, shutting down, answers every handshake it has not seen accepted or refused with
    500 Internal Server Error, and the relay's accept afterwards fails. Before that,
    :meth:`refuse_all` refuses the held ones with 503 and Retry-After.
    """

    def __init__(self) -> None:
        self._closing = asyncio.Event()
        self._holders: set[asyncio.Task[object]] = set()

    async def hold(self, opening: Awaitable[T]) -> T:
        """What ``opening`` returns, unless the server starts shutting down first: then
        ``opening`` is cancelled and :class:`GatewayShuttingDown` raised."""
        opener = asyncio.ensure_future(opening)
        if self._closing.is_set():
            opener.cancel()
            await asyncio.gather(opener, return_exceptions=True)
            raise GatewayShuttingDown("the gateway is shutting down; connect again")
        holder = asyncio.current_task()
        if holder is not None:
            self._holders.add(holder)
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await asyncio.wait({opener, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
            if holder is not None:
                self._holders.discard(holder)
            if not opener.done():
                opener.cancel()
                await asyncio.gather(opener, return_exceptions=True)
        if opener.cancelled():
            raise GatewayShuttingDown("the gateway is shutting down; connect again")
        return opener.result()

    async def refuse_all(self, within_seconds: float) -> None:
        """Refuse every held handshake and wait (at most ``within_seconds``) until each one's
        connection has ended, so that the server's shutdown finds none of them open."""
        self._closing.set()
        held = set(self._holders)
        if held:
            await asyncio.wait(held, timeout=within_seconds)


class WebSocketRelay:
    """Relays one client WebSocket to one signaling process."""

    def __init__(self, limits: RelayLimits) -> None:
        self._limits = limits

    @property
    def handshake_seconds(self) -> float:
        """The budget for finding and connecting to signaling before the client is answered."""
        return self._limits.handshake_seconds

    async def open(
        self,
        scope: Scope,
        *,
        upstream: str,
        base_url: str,
        forwarding: RawHeaders,
        budget_seconds: float,
    ) -> ClientConnection | Response:
        """The upstream connection for the client's handshake in ``scope``, or signaling's
        refusal (pass it on with :func:`refuse_like_upstream`).

        Raises :class:`UpstreamUnavailable` when signaling cannot be reached within
        ``budget_seconds`` (or the configured connect timeout, if shorter).
        """
        url = _websocket_url(base_url) + path_and_query(scope)
        headers = end_to_end(scope["headers"], _NOT_PASSED_ON)
        headers.extend(forwarding)
        offered = [Subprotocol(p) for p in scope.get("subprotocols", [])]
        try:
            return await connect(
                url,
                subprotocols=offered or None,
                additional_headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers],
                user_agent_header=None,
                compression=None,
                proxy=None,
                open_timeout=min(self._limits.open_timeout, max(budget_seconds, 0.0)),
                close_timeout=self._limits.close_timeout,
                ping_interval=None,
                max_size=self._limits.max_message_bytes,
                max_queue=QUEUED_MESSAGES,
            )
        except InvalidStatus as exc:
            return exc.response
        except (OSError, TimeoutError) as exc:
            raise UpstreamUnavailable(upstream, f"{upstream} is unavailable") from exc
        except InvalidHandshake as exc:
            raise UpstreamUnavailable(
                upstream, f"{upstream} answered the handshake wrongly", status_code=502
            ) from exc

    async def relay(self, connection: ClientConnection, receive: Receive, send: Send) -> None:
        """Accept the client (whose ``websocket.connect`` has been received) with the
        subprotocol signaling chose, and relay until either side closes."""
        try:
            await send({"type": "websocket.accept", "subprotocol": connection.subprotocol})
        except BaseException:
            # The client's handshake ended meanwhile: signaling must not keep a socket for it.
            connection.transport.abort()
            raise
        session = _RelaySession(connection, send)
        to_client = asyncio.create_task(session.upstream_to_client())
        try:
            await session.client_to_upstream(receive)
        except BaseException:
            # Cancelled (shutdown) or failed: never leave either side waiting on the other.
            to_client.cancel()
            connection.transport.abort()
            raise
        finally:
            # The upstream is closed by now, so the other direction ends promptly.
            await asyncio.gather(to_client, return_exceptions=True)


class _RelaySession:
    """The state shared by the two directions of one relayed connection."""

    def __init__(self, upstream: ClientConnection, send: Send) -> None:
        self.upstream = upstream
        self.send = send
        self.client_gone = False

    async def client_to_upstream(self, receive: Receive) -> None:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                await self._to_upstream(message)
            elif kind == "websocket.disconnect":
                self.client_gone = True
                await self._close_upstream(message)
                return

    async def _to_upstream(self, message: Message) -> None:
        text: str | None = message.get("text")
        data: str | bytes | None = text if text is not None else message.get("bytes")
        if data is None:
            return
        # Signaling closing already: its close frame is on the way to the client, which will
        # then disconnect and end this loop.
        with contextlib.suppress(ConnectionClosed):
            await self.upstream.send(data)

    async def _close_upstream(self, message: Message) -> None:
        code = int(message.get("code") or CloseCode.NO_STATUS_RCVD)
        reason: str = message.get("reason") or ""
        if code in (CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE):
            # The client vanished without a closing handshake; signaling should see the same.
            self.upstream.transport.abort()
            return
        if code == CloseCode.NO_STATUS_RCVD:
            code, reason = CloseCode.NORMAL_CLOSURE, ""
        await self.upstream.close(code, reason)

    async def upstream_to_client(self) -> None:
        upstream = self.upstream
        send = self.send
        try:
            while True:
                data = await upstream.recv()
                if self.client_gone:
                    continue
                if isinstance(data, str):
                    await send({"type": "websocket.send", "text": data})
                else:
                    await send({"type": "websocket.send", "bytes": data})
        except ConnectionClosed as closed:
            if closed.rcvd is not None:
                code, reason = int(closed.rcvd.code), closed.rcvd.reason
            else:
                code, reason = CloseCode.ABNORMAL_CLOSURE, ""
        except OSError:
            # The client connection failed under a send; the receive side reports the rest.
            return
        if not self.client_gone:
            with contextlib.suppress(OSError, RuntimeError):
                code = close_code_for_client(code)
                await send({"type": "websocket.close", "code": code, "reason": reason})


def _websocket_url(base_url: str) -> str:
    if base_url.startswith("https://"):
        return "wss://" + base_url.removeprefix("https://")
    if base_url.startswith("http://"):
        return "ws://" + base_url.removeprefix("http://")
    return base_url


async def refuse_like_upstream(scope: Scope, send: Send, response: Response) -> None:
    """Pass signaling's own refusal (status and body) to the client, or close if we cannot."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": CloseCode.POLICY_VIOLATION})
        return
    headers: RawHeaders = []
    content_type = response.headers.get("Content-Type")
    if content_type:
        headers.append((b"content-type", content_type.encode("latin-1")))
    start = {"type": "websocket.http.response.start", "status": response.status_code}
    await send({**start, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": bytes(response.body or b"")})
