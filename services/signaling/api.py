"""The WebSocket edge: ``/v1/signal`` speaking ``rapport.signal.v1`` (docs/signaling.md).

Each connection is served by its own handler coroutine and nothing else (no helper tasks, so
idle sockets stay cheap). The handler reads frames, enforces the size and rate limits, parses
each message through the protocol's discriminated union and calls a use case. A change to a
room takes the room's turn, runs in its own unit of work, and its messages go out after the
commit, so the outbox and what participants see never disagree. Relays touch no database.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from services.signaling.echo_test import EchoTest as RunningEchoTest
from services.signaling.echo_test import EchoTestLab, EchoTestUnavailable
from services.signaling.errors import (
    InvalidMessage,
    JoinRefused,
    MessageRefused,
    Moving,
    NotHeldHere,
)
from services.signaling.ownership import RoomOwnership
from services.signaling.rate_limit import MessageRateLimit, Verdict
from services.signaling.room import DETACHED, ConnectionId, Outcome, RoomState, Seat
from services.signaling.schemas import (
    SUBPROTOCOL,
    Admit,
    AdmitAll,
    Answer,
    Chat,
    ClientMessage,
    CloseCode,
    Connected,
    Decline,
    EchoTest,
    EchoTestAnswer,
    EchoTestEnded,
    EchoTestStop,
    End,
    Error,
    ErrorCode,
    GetIceServers,
    GoalUpdate,
    HeldRooms,
    IceCandidate,
    IceServers,
    Join,
    Leave,
    Move,
    Offer,
    Ping,
    Pong,
    Presence,
    SendBack,
    ServerMessage,
    Stats,
    client_messages,
    describe_invalid,
)
from services.signaling.service import Signaling
from services.signaling.settings import SignalingSettings
from shared.db import Database
from shared.errors import Forbidden, Unauthorized
from shared.events.revocations import Revocation
from shared.tokens import Principal, TokenVerifier, bearer_principal

log = logging.getLogger(__name__)

SIGNAL_PATH = "/v1/signal"

_PONG = Pong().model_dump_json()
# The WebSocket is gone, or being closed by another handler: nothing more can be sent.
_SOCKET_GONE = (WebSocketDisconnect, RuntimeError)
_INTERNAL_ERROR = 1011


router = APIRouter()


# Named apart from the access token's scheme, so the public API's one document says which
# token this route takes.
_signaling_token = HTTPBearer(
    auto_error=False,
    scheme_name="SignalingToken",
    description="A participant's signaling token (`POST /v1/signaling-tokens`).",
)


async def _signaling_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_signaling_token)],
) -> Principal:
    # A guest's token is a signaling token too: guests need ICE servers like anyone in a call.
    return await bearer_principal(request, credentials)


@router.get("/v1/ice-servers", response_model_exclude_none=True)
async def get_ice_servers(
    principal: Annotated[Principal, Depends(_signaling_principal)], request: Request
) -> IceServers:
    """The STUN/TURN servers for the caller's peer connection (bearer: a signaling token).

    The same answer as the socket's `get-ice-servers` message; TURN credentials are coturn's
    TURN REST API ones and expire at `expires_at`.
    """
    signaling: Signaling = request.app.state.signaling
    return signaling.ice_servers(principal.user_id)


@router.get("/ops/rooms", include_in_schema=False)
async def held_rooms(request: Request) -> HeldRooms:
    """For operators, on signaling's own port (the gateway does not route it): the rooms this
    process holds. With several processes, every session id shows up in at most one."""
    signaling: Signaling = request.app.state.signaling
    return signaling.held_rooms()


def _routing_session(scope: Scope) -> str | None:
    """The ``session_id`` query parameter the gateway routes by, if the client sent one."""
    query = scope.get("query_string", b"")
    if not query:
        return None
    values = parse_qs(query.decode("latin-1")).get("session_id")
    return values[0].lower() if values else None


class SignalingSocketRoute:
    """Pure ASGI middleware that hands ``/v1/signal`` WebSockets straight to the edge.

    Idle sockets are what limits a signaling process. Routed through FastAPI, every socket
    would keep the frames of the exception middleware, the exit stack and the route's
    dependency solving alive for its whole life (about 11 KiB each, measured with
    tracemalloc); this route skips them. Everything else passes through untouched.
    """

    def __init__(self, app: ASGIApp, *, edge: SignalingEdge) -> None:
        self.app = app
        self._edge = edge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == SIGNAL_PATH:
            await self._edge.serve(WebSocket(scope, receive, send))
            return
        await self.app(scope, receive, send)


class Connection:
    """One accepted socket: sends that never raise once it is gone, and an idempotent close."""

    __slots__ = ("id", "websocket", "rate_limit", "closed", "echo_test", "heard_at")

    def __init__(
        self, connection_id: ConnectionId, websocket: WebSocket, rate_limit: MessageRateLimit
    ) -> None:
        self.id = connection_id
        self.websocket = websocket
        self.rate_limit = rate_limit
        self.closed = False
        self.echo_test: RunningEchoTest | None = None
        # When the joined connection last sent anything (monotonic); None before it joined.
        self.heard_at: float | None = None

    async def send(self, message: ServerMessage) -> None:
        await self.send_text(message.model_dump_json())

    async def send_text(self, text: str) -> None:
        if self.closed:
            return
        try:
            await self.websocket.send({"type": "websocket.send", "text": text})
        except _SOCKET_GONE:
            self.closed = True

    async def send_error(self, code: ErrorCode, message: str) -> None:
        await self.send(Error(code=code, message=message))

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self.websocket.close(code, reason)
        except _SOCKET_GONE:
            pass


class SignalingEdge:
    """Serves signaling sockets for one app: the connections, the limits, the use cases."""

    def __init__(
        self,
        *,
        signaling: Signaling,
        database: Database,
        verifier: TokenVerifier,
        settings: SignalingSettings,
        echo_tests: EchoTestLab | None = None,
        ownership: RoomOwnership | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._signaling = signaling
        # None: this process owns every room (unit tests of the edge alone).
        self._ownership = ownership
        # A hash of what was last written for each room (its state's JSON), so an unchanged
        # room is not written again.
        self._saved: dict[uuid.UUID, int] = {}
        if ownership is not None:
            ownership.bind(on_gained=self._adopt, on_lost=self._lose, current=signaling.state_of)
        self._echo_tests = echo_tests or EchoTestLab(
            max_concurrent=settings.echo_test_max_concurrent,
            max_seconds=settings.echo_test_max_seconds,
        )
        self._database = database
        self._verifier = verifier
        self._settings = settings
        self._monotonic = monotonic
        self._connections: dict[ConnectionId, Connection] = {}
        self._ids = itertools.count(1)
        self._allowed_origins = frozenset(o.rstrip("/").lower() for o in settings.allowed_origins)
        # Grace-period expiries and empty-room ends that are running (kept so they are not
        # garbage collected), and the empty rooms whose end is scheduled.
        self._timers: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._empty_rooms: set[tuple[uuid.UUID, datetime]] = set()
        # Set whenever no socket is open (a drain waits on it).
        self._all_gone = asyncio.Event()
        # Room changes under way (made here, not yet written for the next owner).
        self._changing = 0
        self._changes_done = asyncio.Event()
        self._changes_done.set()
        self._draining: asyncio.Task[None] | None = None
        # Joins verifying their token or in their unit of work at once (the others queue here,
        # holding only their message): see SignalingSettings.join_concurrency.
        self._joining = asyncio.Semaphore(settings.join_concurrency)

    async def serve(self, websocket: WebSocket) -> None:
        """Run one connection from handshake to close."""
        if not self._origin_allowed(websocket.scope):
            # Closing before accepting refuses the handshake itself: HTTP 403.
            await websocket.close(CloseCode.FORBIDDEN)
            return
        if SUBPROTOCOL not in websocket.scope.get("subprotocols", ()):
            await websocket.accept()
            await websocket.close(CloseCode.PROTOCOL_ERROR, f"offer the {SUBPROTOCOL} subprotocol")
            return
        await websocket.accept(subprotocol=SUBPROTOCOL)
        # The handshake is done and its headers were read (Origin above); the server's copy
        # in the scope would otherwise live as long as the socket (about 1 KiB).
        websocket.scope["headers"] = []
        settings = self._settings
        connection = Connection(
            next(self._ids),
            websocket,
            MessageRateLimit(
                per_second=settings.rate_limit_per_second,
                burst=settings.rate_limit_burst,
                patience=settings.rate_limit_patience,
                now=self._monotonic(),
            ),
        )
        self._connections[connection.id] = connection
        self._all_gone.clear()
        seat: Seat | None = None
        try:
            seat = await self._await_join(connection)
            if seat is not None:
                await self._converse(connection, seat)
        except Exception:
            # The socket's equivalent of a 500: a bug must not leave the peer hanging.
            log.exception("signaling connection %d failed", connection.id)
            await connection.close(_INTERNAL_ERROR, "internal error")
        finally:
            # From here on the socket is closed (by us or the client): a participant still
            # seated on it has dropped, which counts as leaving.
            connection.closed = True
            del self._connections[connection.id]
            if not self._connections:
                self._all_gone.set()
            if connection.echo_test is not None:
                await connection.echo_test.stop("disconnected")
            if seat is not None:
                await self._release(seat)

    async def close_idle(self) -> None:
        """Until :meth:`stop_closing_idle`: close joined connections that have sent nothing for
        the idle timeout with 4408. One sweep every few seconds for all connections costs
        less than a timer per connection, on every message and in memory."""
        idle = self._settings.idle_timeout_seconds
        every = min(idle / 4, 5.0)
        while not self._stopping.is_set():
            try:
                async with asyncio.timeout(every):
                    await self._stopping.wait()
            except TimeoutError:
                pass
            silent_since = self._monotonic() - idle
            silent = [
                c
                for c in self._connections.values()
                if c.heard_at is not None and c.heard_at <= silent_since and not c.closed
            ]
            for connection in silent:
                await connection.close(CloseCode.IDLE, "idle")

    def stop_closing_idle(self) -> None:
        self._stopping.set()

    async def revoke(self, revocation: Revocation) -> None:
        """Identity revoked tokens of a user: refuse those tokens from now on, and take the
        user out of every room of this process, closing their sockets with 4401. A logout
        (one sign-in's tokens) takes out only those who joined with that sign-in's tokens."""
        revocation.apply_to(self._verifier)
        signaling, user_id = self._signaling, revocation.user_id
        for session_id in signaling.rooms_of(user_id):
            try:
                await self._change(
                    session_id,
                    partial(
                        signaling.revoke,
                        room=session_id,
                        user_id=user_id,
                        family_id=revocation.family_id,
                    ),
                )
            except Exception:
                # One room's failure (most likely its database write) must not keep the user
                # in the others; the follower has no one else to report it to.
                log.exception("could not take a revoked user out of session %s", session_id)

    def _origin_allowed(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"origin":
                origin = value.decode("latin-1").rstrip("/").lower()
                return origin in self._allowed_origins
        # No Origin: not a browser, so not a cross-site request a browser was tricked into.
        return True

    async def _await_join(self, connection: Connection) -> Seat | None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.join_timeout_seconds
        while not connection.closed:
            try:
                async with asyncio.timeout_at(deadline):
                    frame = await connection.websocket.receive()
            except TimeoutError:
                await connection.close(CloseCode.UNAUTHORIZED, "unauthorized: no join in time")
                return None
            message = await self._read(connection, frame)
            if message is None:
                continue
            if isinstance(message, Join):
                return await self._join(connection, message)
            if isinstance(message, Ping):
                await connection.send_text(_PONG)
            else:
                await connection.send_error("not-joined", "send join first")
        return None

    async def _join(self, connection: Connection, message: Join) -> Seat | None:
        try:
            async with self._joining:
                principal = await self._verifier.verify(message.token)
        except (Unauthorized, ValueError, TypeError, AttributeError):
            # ValueError/TypeError/AttributeError: shared.tokens turns a malformed ``sid``
            # claim into a UUID without catching these (see the report on shared/).
            await connection.close(CloseCode.UNAUTHORIZED, "unauthorized")
            return None
        if principal.session_id is None:
            await connection.close(CloseCode.UNAUTHORIZED, "unauthorized: no session in token")
            return None
        routed_for = _routing_session(connection.websocket.scope)
        if routed_for is not None and routed_for != str(principal.session_id):
            # The gateway chose this process by the URL's session id; a token for another
            # session would put a room where the gateway will never route its other members.
            await self._refuse(
                connection, principal, CloseCode.FORBIDDEN, "the URL names another session"
            )
            return None
        seated: list[Seat] = []

        async def join(session: AsyncSession) -> Outcome:
            seat, outcome = await self._signaling.join(
                session,
                principal,
                connection=connection.id,
                display_name=message.display_name,
                resume=message.resume,
            )
            seated.append(seat)
            return outcome

        try:
            await self._change(principal.session_id, join, refusal=NotHeldHere, gate=self._joining)
        except JoinRefused as refused:
            await self._refuse(connection, principal, refused.close_code, refused.detail)
            return None
        except Forbidden:
            await self._refuse(connection, principal, CloseCode.FORBIDDEN, "forbidden")
            return None
        return seated[0]

    async def _refuse(
        self, connection: Connection, principal: Principal, code: CloseCode, reason: str
    ) -> None:
        log.info(
            "join refused",
            extra={"session_id": str(principal.session_id), "close_code": int(code)},
        )
        await connection.close(code, reason)

    async def _converse(self, connection: Connection, seat: Seat) -> None:
        # No timer per connection: close_idle() looks at heard_at for all of them at once.
        connection.heard_at = self._monotonic()
        while not connection.closed:
            frame = await connection.websocket.receive()
            connection.heard_at = self._monotonic()
            message = await self._read(connection, frame)
            if message is None:
                continue
            try:
                await self._act(connection, seat, message)
            except MessageRefused as refused:
                await connection.send_error(refused.code, refused.detail)

    async def _act(self, connection: Connection, seat: Seat, message: ClientMessage) -> None:
        signaling = self._signaling
        match message:
            case Offer() | Answer() | IceCandidate():
                await self._send_all(signaling.relay(seat, message))
            case Chat():
                await self._send_all(signaling.chat(seat, message))
            case Ping():
                await connection.send_text(_PONG)
            case EchoTest(sdp=sdp):
                await self._start_echo_test(connection, sdp)
            case EchoTestStop():
                if connection.echo_test is not None:
                    await connection.echo_test.stop("stopped")
            case Presence(status=status):
                await self._change(
                    seat.session_id, lambda session: signaling.set_presence(session, seat, status)
                )
            case GetIceServers():
                await connection.send(signaling.ice_servers(seat.user_id))
            case Admit(user_id=user_id):
                await self._change(
                    seat.session_id, lambda session: signaling.admit(session, seat, user_id)
                )
            case AdmitAll():
                await self._change(
                    seat.session_id, lambda session: signaling.admit_all(session, seat)
                )
            case SendBack(user_id=user_id):
                await self._change(
                    seat.session_id, lambda session: signaling.send_back(session, seat, user_id)
                )
            case Decline(user_id=user_id):
                await self._change(
                    seat.session_id, lambda session: signaling.decline(session, seat, user_id)
                )
            case GoalUpdate(goal_id=goal_id, progress=progress):
                await self._change(
                    seat.session_id,
                    lambda session: signaling.share_goal_progress(session, seat, goal_id, progress),
                )
            case Stats():
                stats = message
                await self._change(
                    seat.session_id, lambda session: signaling.report_stats(session, seat, stats)
                )
            case Connected():
                await self._change(
                    seat.session_id, lambda session: signaling.report_connected(session, seat)
                )
            case Leave():
                await self._change(seat.session_id, lambda session: signaling.leave(session, seat))
            case End():
                await self._change(seat.session_id, lambda session: signaling.end(session, seat))
            case Join():
                raise InvalidMessage("this connection has already joined")

    async def _start_echo_test(self, connection: Connection, sdp: str) -> None:
        if connection.echo_test is not None:
            await connection.send_error("echo-test-unavailable", "a test is already running")
            return

        async def ended(reason: str) -> None:
            connection.echo_test = None
            await connection.send(EchoTestEnded(reason=reason))

        try:
            test, answer = await self._echo_tests.start(sdp, ended)
        except EchoTestUnavailable as unavailable:
            await connection.send_error("echo-test-unavailable", str(unavailable)[:500])
            return
        connection.echo_test = test
        await connection.send(EchoTestAnswer(sdp=answer, max_seconds=self._echo_tests.max_seconds))

    async def _read(self, connection: Connection, frame: Message) -> ClientMessage | None:
        """The message in ``frame``, or None when there is none to act on (refused, closed)."""
        if frame["type"] == "websocket.disconnect":
            connection.closed = True
            return None
        payload: str | bytes | None = frame.get("text")
        if payload is None:
            payload = frame.get("bytes") or b""
        if self._too_big(payload):
            await connection.close(CloseCode.TOO_BIG, "too big")
            return None
        verdict = connection.rate_limit.check(self._monotonic())
        if verdict is Verdict.REFUSE:
            await connection.send_error("too-fast", "slow down: message dropped")
            return None
        if verdict is Verdict.DISCONNECT:
            await connection.close(CloseCode.TOO_FAST, "too fast")
            return None
        try:
            return client_messages.validate_json(payload)
        except ValidationError as invalid:
            await connection.send_error("invalid-message", describe_invalid(invalid))
            return None

    def _too_big(self, payload: str | bytes) -> bool:
        limit = self._settings.max_message_bytes
        if isinstance(payload, bytes) or len(payload) > limit:
            return len(payload) > limit
        # A str of n characters is at most 4n bytes of UTF-8; encode only when it matters.
        return len(payload) * 4 > limit and len(payload.encode()) > limit

    async def _change(
        self,
        session_id: uuid.UUID,
        use_case: Callable[[AsyncSession], Awaitable[Outcome]],
        *,
        refusal: type[Moving | NotHeldHere] = Moving,
        gate: AbstractAsyncContextManager[Any] | None = None,
    ) -> None:
        """Change the room of ``session_id`` in its turn: ``use_case`` in a unit of work (held
        inside ``gate`` too, if given), the state written, the outcome delivered."""
        async with self._signaling.exclusive(session_id):
            if self._ownership is not None and not await self._ownership.holds(session_id):
                raise refusal()
            # Counted until written: a drain hands the room over only after that.
            self._changing += 1
            self._changes_done.clear()
            try:
                async with (
                    gate or contextlib.nullcontext(),
                    self._database.unit_of_work() as session,
                ):
                    outcome = await use_case(session)
                # Written before anyone hears of the change: what a participant was told is
                # what the next owner rebuilds.
                await self._persist(session_id)
            finally:
                self._changing -= 1
                if not self._changing:
                    self._changes_done.set()
            await self._send_all(outcome)
            emptied_at = self._signaling.emptied_at(session_id)
            if emptied_at is not None:
                self._schedule_end(session_id, emptied_at, emptied_at)
        # Closing waits for the other side's close frame: do it after giving up the turn.
        await self._close_all(outcome)

    async def _persist(self, session_id: uuid.UUID) -> None:
        ownership = self._ownership
        if ownership is None:
            return
        state = self._signaling.state_of(session_id)
        text = hash(state.model_dump_json()) if state is not None else None
        if self._saved.get(session_id) == text:
            return
        try:
            await ownership.save(session_id, state)
        except (KafkaError, OSError) as exc:
            # The room goes on here; only a failover before the next write would miss it.
            log.warning("could not write a room's state: %s", type(exc).__name__)
            return
        if text is None:
            self._saved.pop(session_id, None)
        else:
            self._saved[session_id] = text

    async def _adopt(self, states: list[RoomState]) -> None:
        """Rooms this process was assigned: rebuilt, with their timers from the stored
        times (a dropped member's grace period, an empty room's timeout)."""
        loop = asyncio.get_running_loop()
        now = datetime.now(UTC)
        grace = self._settings.resume_grace_seconds
        for state in states:
            room = self._signaling.adopt(state)
            self._saved[room.session_id] = hash(room.snapshot().model_dump_json())
            for participant in room.participants:
                if participant.dropped_at is None:
                    continue
                left = (participant.dropped_at - now).total_seconds() + grace
                seat = Seat(room.session_id, participant.user_id, DETACHED)
                loop.call_later(max(0.0, left), self._start_expiry, seat)
            if room.emptied_at is not None and room.is_empty:
                self._schedule_end(room.session_id, room.emptied_at, now)

    async def _lose(self, partitions: set[int]) -> None:
        """Partitions another process now owns: their rooms' clients are told to move."""
        ownership = self._ownership
        assert ownership is not None
        moving: list[ConnectionId] = []
        for state_room in list(self._signaling.rooms()):
            session_id = state_room.session_id
            if ownership.partition(session_id) not in partitions:
                continue
            room = self._signaling.forget(session_id)
            self._saved.pop(session_id, None)
            if room is not None:
                moving += [p.connection for p in room.participants]
        for connection_id in moving:
            if (connection := self._connections.get(connection_id)) is not None:
                self._start_task(self._move(connection, "rebalance"))

    async def _move(self, connection: Connection, reason: Literal["draining", "rebalance"]) -> None:
        await connection.send(Move(reason=reason))
        await connection.close(CloseCode.MOVED, "moved: reconnect")

    def start_draining(self) -> asyncio.Task[None]:
        """Begin :meth:`drain` now (on SIGTERM, before the server's own shutdown gets to
        it); the same drain is returned to whoever asks again."""
        if self._draining is None:
            self._draining = asyncio.create_task(self._drain())
        return self._draining

    async def drain(self) -> None:
        """SIGTERM: hand this process's rooms to the others, tell every client to move
        there as soon as its room's successor holds it, and wait (bounded) for them to go."""
        await asyncio.shield(self.start_draining())

    async def _drain(self) -> None:
        ownership = self._ownership
        if ownership is None:
            return
        settings = self._settings
        ownership.stop_owning()
        # A change that was already under way is written before the successors read.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.drain_successor_wait_seconds):
                await self._changes_done.wait()
        moves: list[asyncio.Task[None]] = []
        moved: set[ConnectionId] = set()

        async def handed(partitions: set[int]) -> None:
            moving: list[Connection] = []
            for room in list(self._signaling.rooms()):
                if ownership.partition(room.session_id) not in partitions:
                    continue
                self._signaling.forget(room.session_id)
                self._saved.pop(room.session_id, None)
                moving += [
                    c
                    for p in room.participants
                    if (c := self._connections.get(p.connection)) is not None
                ]
            moved.update(c.id for c in moving)
            moves.extend(asyncio.create_task(self._move(c, "draining")) for c in moving)

        await ownership.drain(settings.drain_successor_wait_seconds, handed)
        # The rest: rooms nobody claimed in time, and sockets that are in no room.
        for room in list(self._signaling.rooms()):
            self._signaling.forget(room.session_id)
        self._saved.clear()
        rest = [c for c in list(self._connections.values()) if c.id not in moved]
        await asyncio.gather(
            *moves, *(self._move(c, "draining") for c in rest), return_exceptions=True
        )
        if self._connections:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(settings.drain_clients_wait_seconds):
                    await self._all_gone.wait()

    def _schedule_end(self, session_id: uuid.UUID, emptied_at: datetime, now: datetime) -> None:
        if (session_id, emptied_at) in self._empty_rooms:
            return
        self._empty_rooms.add((session_id, emptied_at))
        left = self._settings.empty_room_timeout_seconds - (now - emptied_at).total_seconds()
        asyncio.get_running_loop().call_later(
            max(0.0, left), lambda: self._start_task(self._end_if_empty(session_id, emptied_at))
        )

    async def _send_all(self, outcome: Outcome) -> None:
        for connection_id, message in outcome.messages:
            connection = self._connections.get(connection_id)
            if connection is not None:
                await connection.send(message)

    async def _close_all(self, outcome: Outcome) -> None:
        closing = [
            (connection, closure)
            for closure in outcome.closures
            if (connection := self._connections.get(closure.connection)) is not None
        ]
        if len(closing) == 1:
            connection, closure = closing[0]
            await connection.close(closure.code, closure.reason)
        elif closing:
            await asyncio.gather(*(c.close(cl.code, cl.reason) for c, cl in closing))

    async def _release(self, seat: Seat) -> None:
        """The socket of ``seat`` is closed. After ``leave`` (or a takeover) nothing is left
        to do; a member who just dropped keeps their place for the grace period."""
        signaling = self._signaling
        grace = self._settings.resume_grace_seconds
        try:
            if grace <= 0:
                await self._change(seat.session_id, lambda session: signaling.leave(session, seat))
                return
            await self._change(seat.session_id, lambda session: signaling.drop(session, seat))
        except Moving:
            return  # the room lives on in another process, which detached them itself
        except Exception:
            # The socket is gone, nobody is left to tell: the log is the only place this
            # failure (most likely the database) can be reported.
            log.exception("could not record that a participant left")
            return
        if signaling.awaits_resume(seat):
            asyncio.get_running_loop().call_later(grace, self._start_expiry, seat)

    def _start_expiry(self, seat: Seat) -> None:
        self._start_task(self._expire(seat))

    def _start_task(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    async def _end_if_empty(self, session_id: uuid.UUID, emptied_at: datetime) -> None:
        self._empty_rooms.discard((session_id, emptied_at))
        signaling = self._signaling
        try:
            await self._change(
                session_id,
                partial(signaling.end_if_empty, session_id=session_id, emptied_at=emptied_at),
            )
        except Moving:
            return
        except Exception:
            log.exception("could not end the empty room of session %s", session_id)

    async def _expire(self, seat: Seat) -> None:
        signaling = self._signaling
        if not signaling.awaits_resume(seat):
            return  # back on a new connection (or gone) already
        try:
            await self._change(seat.session_id, lambda session: signaling.expire(session, seat))
        except Moving:
            return
        except Exception:
            log.exception("could not record that a dropped participant left")
