"""The ``rapport.signal.v1`` protocol: every WebSocket message, as pydantic models.

What a client may send decodes through one discriminated union on ``type``
(:data:`ClientMessage`); what the server sends is :data:`ServerMessage`. The reference in
docs/signaling.md and docs/signaling.schema.json is generated from these models
(``python -m services.signaling protocol-docs``), so the code and the documentation cannot drift.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

SUBPROTOCOL = "rapport.signal.v1"

# "guest": someone the appointment invited besides its client (an interpreter, family).
ParticipantRole = Literal["clinician", "client", "guest"]
PresenceStatus = Literal["online", "away", "in-another-session", "offline"]
# What the clinician may set about themselves.
SettablePresence = Literal["online", "away"]
# Who a chat message is for, besides one person by user id: every member of the call, or
# everyone in the waiting room (the clinician only).
ChatAudience = Literal["call", "waiting"]
# The longest chat message, in characters: a few paragraphs, well inside the frame limit.
MAX_CHAT_CHARACTERS = 2_000
ErrorCode = Literal[
    "invalid-message",
    "not-joined",
    "forbidden",
    "not-admitted",
    "unknown-participant",
    "too-fast",
    "echo-test-unavailable",
    "room-full",
    "moving",
]


class CloseCode(IntEnum):
    """Why the server closed a socket (the WebSocket close code)."""

    NORMAL = 1000
    UNAUTHORIZED = 4001
    FORBIDDEN = 4003
    UNKNOWN_SESSION = 4004
    SESSION_ENDED = 4008
    REPLACED = 4010
    MOVED = 4012
    PROTOCOL_ERROR = 4400
    REVOKED = 4401
    IDLE = 4408
    TOO_LATE = 4410
    TOO_BIG = 4413
    TOO_EARLY = 4425
    TOO_FAST = 4429
    CONSENT_REQUIRED = 4451


CLOSE_CODE_MEANINGS: dict[CloseCode, str] = {
    CloseCode.NORMAL: "the participant left (after `leave`)",
    CloseCode.UNAUTHORIZED: "no `join` within the join timeout, or a bad, expired or "
    "wrong-audience token",
    CloseCode.FORBIDDEN: "the token's user is neither the session's clinician nor its client, "
    "the clinician declined this client, or the handshake's `Origin` is not allowed",
    CloseCode.UNKNOWN_SESSION: "the token's session is not (yet) known to signaling",
    CloseCode.SESSION_ENDED: (
        "the session ended (the clinician ended it, or it sat empty) or its appointment was "
        "cancelled; later joins are refused the same way"
    ),
    CloseCode.REPLACED: "the same user joined the same session from a newer connection",
    CloseCode.MOVED: "the room is moving to another signaling process (this one is draining, "
    "or the rooms were rebalanced) or is not held here: reconnect through the gateway at once, "
    "with `resume`, and you are put back where you were",
    CloseCode.PROTOCOL_ERROR: "the client did not offer the `rapport.signal.v1` subprotocol",
    CloseCode.REVOKED: "the user's tokens were revoked (account deactivated, role changed, a "
    "refresh token reused, or the sign-in the join token came from logged out): closed at once, "
    "and the revoked signaling tokens are refused",
    CloseCode.IDLE: "the client sent nothing (not even `ping`) for the idle timeout (120 s)",
    CloseCode.TOO_LATE: "the session's join window has closed (30 minutes after its end by "
    "default)",
    CloseCode.TOO_EARLY: "the session's join window is not open yet (it opens 15 minutes "
    "before the start by default): retry later",
    CloseCode.TOO_BIG: "a message was larger than the limit (64 KiB by default)",
    CloseCode.TOO_FAST: "the client kept sending after `too-fast` errors",
    CloseCode.CONSENT_REQUIRED: "the clinic requires its telehealth consent "
    "(`RAPPORT_SIGNALING_CONSENT_REQUIRED`) and the session's client has not signed its "
    "current version, or withdrew it: sign it (records' `POST /v1/consent/signatures`), "
    "then join again",
}

# What the web pages tell a person whose connection closed with each code (generated into
# web/public/js/protocol.js; see services/signaling/docs.py).
CLOSE_CODE_USER_TEXT: dict[CloseCode, str] = {
    CloseCode.NORMAL: "You left the session.",
    CloseCode.UNAUTHORIZED: "Your sign-in for this session expired. Reload the page to try again.",
    CloseCode.FORBIDDEN: "You cannot join this session.",
    CloseCode.UNKNOWN_SESSION: "This session is not known yet.",
    CloseCode.SESSION_ENDED: "The session has ended.",
    CloseCode.REPLACED: "You joined this session from another window.",
    CloseCode.MOVED: "Reconnecting to the session…",
    CloseCode.PROTOCOL_ERROR: "This page could not talk to the session service. Reload the page "
    "to try again.",
    CloseCode.REVOKED: "You were signed out of Rapport. Sign in again to join.",
    CloseCode.IDLE: "The connection was idle for too long.",
    CloseCode.TOO_LATE: "This session's time has passed.",
    CloseCode.TOO_BIG: "This page sent a message the session service could not take. Reload the "
    "page to join again.",
    CloseCode.TOO_EARLY: "This session is not open yet.",
    CloseCode.TOO_FAST: "This page sent too many messages at once. Reload the page to join again.",
    CloseCode.CONSENT_REQUIRED: "Please read and sign your clinic's telehealth consent before "
    "joining.",
}

ERROR_CODE_MEANINGS: dict[ErrorCode, str] = {
    "not-joined": "a message that needs a joined connection arrived before `join` succeeded",
    "invalid-message": "not JSON, not an object, an unknown `type`, or fields that do not fit "
    "the message's schema (a `chat` text longer than 2,000 characters, too); also a second "
    "`join` on a joined connection",
    "forbidden": "only the clinician may `admit`, `admit-all`, `decline`, `send-back`, `end`, "
    "set `presence`, send a `goal-update` or `chat` to the waiting room; a member may not "
    "`chat` to someone waiting",
    "not-admitted": "a participant still in the waiting room tried to relay, report "
    "`connected` or `stats`, send a `goal-update`, or `chat` to anyone but the clinician",
    "unknown-participant": "`admit`/`decline` of someone not waiting, `send-back` of someone "
    "not a client in the call, a `to` that names no other admitted member, or a `chat` `to` "
    "someone not in the room (or the clinician, when they are not there)",
    "echo-test-unavailable": "the pre-call test is at its limit (a few at a time per process, "
    "one per connection), or its offer could not be answered",
    "moving": "a change to the room arrived while it moves to another signaling process; "
    "a `move` follows: reconnect and send it again",
    "room-full": "`admit` when the call already has the appointment's `max_participants` "
    "members (the clinician and members within their resume grace period count)",
    "too-fast": "the connection's rate limit (50 messages/s, bursts of 100) was exceeded; "
    "the message was dropped",
}


def _type_is_required(schema: dict[str, Any]) -> None:
    # ``type`` has a default so the server can build messages tersely, but on the wire it is
    # the discriminator and always present. Values inside a message (an ICE server) have none.
    if "type" not in schema.get("properties", {}):
        return
    required = schema.setdefault("required", [])
    if "type" not in required:
        required.insert(0, "type")


class Message(BaseModel):
    """Base of every protocol message: strict, immutable, wire names by alias."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        json_schema_extra=_type_is_required,
    )


def _absent_when_none(value: object) -> bool:
    return value is None


# client → server ---------------------------------------------------------------------------


class Join(Message):
    """The first message on every connection, within the join timeout (10 s): authenticate
    with a signaling token (audience `rapport-signaling`, from `POST /v1/signaling-tokens`)."""

    type: Literal["join"] = "join"
    token: str = Field(min_length=1, max_length=8_192)
    display_name: str | None = Field(None, max_length=80)
    # The `resume_token` of an earlier `waiting` or `joined` in this session: when the room
    # still holds this participant (their socket dropped, or the room moved to another
    # process), they are put back where they were, waiting in the same place or in the call.
    resume: str | None = Field(None, max_length=128, exclude_if=_absent_when_none)


class Admit(Message):
    """Clinician only: let a waiting client into the call."""

    type: Literal["admit"] = "admit"
    user_id: uuid.UUID


class Decline(Message):
    """Clinician only: turn a waiting client away (they get `declined`, then close 4003)."""

    type: Literal["decline"] = "decline"
    user_id: uuid.UUID


class AdmitAll(Message):
    """Clinician only: let everyone in the waiting room into the call (up to the room's limit)."""

    type: Literal["admit-all"] = "admit-all"


class SendBack(Message):
    """Clinician only: move a client from the call back to the waiting room."""

    type: Literal["send-back"] = "send-back"
    user_id: uuid.UUID


class IceCandidateInit(BaseModel):
    """An ICE candidate as `RTCIceCandidate.toJSON()` gives it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # WebRTC's own field names, so a browser can pass candidate.toJSON() as it is.
    candidate: str = Field(max_length=4_096)
    sdpMid: str | None = Field(None, max_length=256)
    sdpMLineIndex: int | None = Field(None, ge=0)
    usernameFragment: str | None = Field(None, max_length=256, exclude_if=_absent_when_none)


class Offer(Message):
    """An SDP offer for the other admitted members (or only for `to`)."""

    type: Literal["offer"] = "offer"
    sdp: str = Field(min_length=1)
    to: uuid.UUID | None = Field(None, exclude_if=_absent_when_none)


class Answer(Message):
    """An SDP answer for the other admitted members (or only for `to`)."""

    type: Literal["answer"] = "answer"
    sdp: str = Field(min_length=1)
    to: uuid.UUID | None = Field(None, exclude_if=_absent_when_none)


class IceCandidate(Message):
    """A trickled ICE candidate; `null` means the end of candidates."""

    type: Literal["ice-candidate"] = "ice-candidate"
    candidate: IceCandidateInit | None
    to: uuid.UUID | None = Field(None, exclude_if=_absent_when_none)


class Connected(Message):
    """This member's peer connection is up. Once the clinician and a client have both said
    so, signaling records that the call connected."""

    type: Literal["connected"] = "connected"


class Leave(Message):
    """Leave the room (or the waiting room); the server closes the socket with 1000."""

    type: Literal["leave"] = "leave"


class End(Message):
    """Clinician only: end the session for everyone (all sockets close with 4008)."""

    type: Literal["end"] = "end"


class Presence(Message):
    """Clinician only: set the status waiting clients see (`online` or `away`, e.g. on a short
    break). Joining sets it to `online`."""

    type: Literal["presence"] = "presence"
    status: SettablePresence


class GoalUpdate(Message):
    """Clinician only, in the call: progress on one of the client's goals (0–10). Every member
    gets `goal-updated` at once, and records stores it as a goal update of this session."""

    type: Literal["goal-update"] = "goal-update"
    goal_id: uuid.UUID
    progress: int = Field(ge=0, le=10)


class Chat(Message):
    """A text message, relayed at once and kept nowhere (no event, no log, no room state).
    `to` is one person's user id, `call` (every member of the call) or `waiting` (everyone in
    the waiting room). The clinician may write to anyone in the room; a member of the call to
    the call or to another member; someone waiting only to the clinician (to answer "running
    five minutes late"), never to others waiting, who stay unknown to each other. Everyone it
    reaches, the sender included, gets `chat-message`."""

    type: Literal["chat"] = "chat"
    text: str = Field(min_length=1, max_length=MAX_CHAT_CHARACTERS)
    to: uuid.UUID | ChatAudience = "call"


class Stats(Message):
    """Members, periodically (every 10 s is plenty): how their connection is doing, from
    `RTCPeerConnection.getStats()`. Signaling keeps one sample per member per sampling
    interval (10 s by default) as a quality sample; more frequent ones are ignored."""

    type: Literal["stats"] = "stats"
    round_trip_ms: float | None = Field(None, ge=0, le=600_000)
    packet_loss: float | None = Field(None, ge=0, le=1)
    jitter_ms: float | None = Field(None, ge=0, le=600_000)
    bitrate_kbps: float | None = Field(None, ge=0, le=10_000_000)
    # The video frames this member's client has decoded so far (inbound-rtp `framesDecoded`,
    # summed over video tracks): 0 all through the call means it was audio-only for billing.
    video_frames_decoded: int | None = Field(None, ge=0, le=10**12)


class EchoTest(Message):
    """Start the pre-call test (any joined connection): an SDP offer with its candidates
    (wait for ICE gathering to complete; not trickled). A server-side peer answers with
    `echo-test-answer` and sends every audio and video track back as it receives it, until
    `echo-test-stop` or its time limit (30 s)."""

    type: Literal["echo-test"] = "echo-test"
    sdp: str = Field(min_length=1)


class EchoTestStop(Message):
    """Stop the running pre-call test."""

    type: Literal["echo-test-stop"] = "echo-test-stop"


class GetIceServers(Message):
    """Ask for the STUN/TURN servers to use (answered with `ice-servers`). Members and waiting
    clients alike may ask, so a client can set up its peer connection while it waits."""

    type: Literal["get-ice-servers"] = "get-ice-servers"


class Ping(Message):
    """Keep-alive at the application level; answered with `pong`."""

    type: Literal["ping"] = "ping"


RelayMessage = Offer | Answer | IceCandidate

ClientMessage = Annotated[
    Join
    | Admit
    | AdmitAll
    | Decline
    | SendBack
    | Offer
    | Answer
    | IceCandidate
    | Connected
    | Leave
    | End
    | Presence
    | GoalUpdate
    | Chat
    | Stats
    | EchoTest
    | EchoTestStop
    | GetIceServers
    | Ping,
    Field(discriminator="type"),
]

client_messages: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


def describe_invalid(error: ValidationError, *, limit: int = 3) -> str:
    """What is wrong with a client message, briefly, without echoing its values (tokens!)."""
    problems = []
    for detail in error.errors(include_input=False, include_url=False)[:limit]:
        where = ".".join(str(part) for part in detail["loc"])
        problems.append(f"{where}: {detail['msg']}" if where else detail["msg"])
    more = error.error_count() - limit
    if more > 0:
        problems.append(f"and {more} more")
    return "; ".join(problems)[:500]


# server → client ---------------------------------------------------------------------------


class Peer(Message):
    """A member of the call."""

    user_id: uuid.UUID
    role: ParticipantRole


class WaitingClient(Message):
    """Someone in the waiting room, as the clinician sees them."""

    user_id: uuid.UUID
    role: ParticipantRole
    display_name: str | None
    since: datetime


class Waiting(Message):
    """To a client after `join`: you are in the waiting room."""

    type: Literal["waiting"] = "waiting"
    session_id: uuid.UUID
    clinician_status: PresenceStatus
    # Since when this client waits: the waiting room's order (longest-waiting first).
    since: datetime | None = Field(None, exclude_if=_absent_when_none)
    # Present on a first `waiting`: send it as `join.resume` to come back to this place.
    resume_token: str | None = Field(None, exclude_if=_absent_when_none)
    # Only present (true) when `join.resume` put this client back in its place.
    resumed: bool | None = Field(None, exclude_if=_absent_when_none)


class WaitingRoom(Message):
    """To the clinician whenever the waiting room changes."""

    type: Literal["waiting-room"] = "waiting-room"
    waiting: list[WaitingClient]


class Joined(Message):
    """You are a member of the call: to the clinician after `join`, to a client when admitted.

    `polite` is whether *you* are the polite peer of perfect negotiation towards the
    clinician (the clinician never is; between other members the smaller user id is the
    impolite side). `waiting` is only sent to the clinician."""

    type: Literal["joined"] = "joined"
    session_id: uuid.UUID
    you: Peer
    peers: list[Peer]
    polite: bool
    waiting: list[WaitingClient] | None = Field(None, exclude_if=_absent_when_none)
    # Only present (true) when this join resumed a dropped connection within the grace period.
    resumed: bool | None = Field(None, exclude_if=_absent_when_none)
    # Present when this participant arrived: send it as `join.resume` to come back.
    resume_token: str | None = Field(None, exclude_if=_absent_when_none)


class PeerJoined(Message):
    """To the members already in the call: `peer` joined. `polite` is whether that peer is
    polite towards *you*; the impolite side of each pair makes the offer (the clinician
    always does)."""

    type: Literal["peer-joined"] = "peer-joined"
    peer: Peer
    polite: bool


class PeerLeft(Message):
    """To the remaining members: a member left (or dropped)."""

    type: Literal["peer-left"] = "peer-left"
    user_id: uuid.UUID


class ClinicianStatus(Message):
    """To waiting clients when the clinician comes online or goes offline."""

    type: Literal["clinician-status"] = "clinician-status"
    status: PresenceStatus


class PeerReconnecting(Message):
    """To the other members: a member's socket dropped; they have the grace period (20 s by
    default) to come back before they count as having left (`peer-left`)."""

    type: Literal["peer-reconnecting"] = "peer-reconnecting"
    user_id: uuid.UUID


class PeerBack(Message):
    """To the other members: a member who was reconnecting is back, on a new connection."""

    type: Literal["peer-back"] = "peer-back"
    user_id: uuid.UUID
    # Present (true) when only the room moved between signaling processes: their socket
    # moved, their media was never touched, so nothing needs renegotiating unless your own
    # connection to them broke meanwhile.
    moved: bool | None = Field(None, exclude_if=_absent_when_none)


class SentBack(Message):
    """To a client the clinician moved from the call back to the waiting room."""

    type: Literal["sent-back"] = "sent-back"
    session_id: uuid.UUID
    clinician_status: PresenceStatus


class Declined(Message):
    """To a waiting client the clinician declined; the socket then closes with 4003."""

    type: Literal["declined"] = "declined"


class Ended(Message):
    """To everyone in the room when the clinician ends it; the socket then closes with 4008."""

    type: Literal["ended"] = "ended"
    reason: Literal["ended"]


class RelayedOffer(Offer):
    """An `offer` from another member, with who sent it."""

    from_: uuid.UUID = Field(alias="from")


class RelayedAnswer(Answer):
    """An `answer` from another member, with who sent it."""

    from_: uuid.UUID = Field(alias="from")


class RelayedIceCandidate(IceCandidate):
    """An `ice-candidate` from another member, with who sent it."""

    from_: uuid.UUID = Field(alias="from")


class GoalUpdated(Message):
    """To every member when the clinician pushed progress on a goal (`from` is the clinician).
    `goal_update_id` is the id records stores it under."""

    type: Literal["goal-updated"] = "goal-updated"
    goal_update_id: uuid.UUID
    goal_id: uuid.UUID
    progress: int
    from_: uuid.UUID = Field(alias="from")
    at: datetime


class ChatMessage(Message):
    """A `chat` as those it reaches get it: to its recipients and back to its sender (in the
    order signaling relayed it), with who wrote it and when. `to` is as the sender wrote it:
    a user id (a private message), `call` or `waiting`."""

    type: Literal["chat-message"] = "chat-message"
    text: str
    to: uuid.UUID | ChatAudience
    from_: uuid.UUID = Field(alias="from")
    role: ParticipantRole
    at: datetime


class EchoTestAnswer(Message):
    """The echo peer's SDP answer (with its candidates); it stops after `max_seconds`."""

    type: Literal["echo-test-answer"] = "echo-test-answer"
    sdp: str
    max_seconds: float


class EchoTestEnded(Message):
    """The pre-call test is over: `stopped` (asked), `time-limit`, `disconnected` (the peer
    connection failed) or `shutdown` (the server is stopping)."""

    type: Literal["echo-test-ended"] = "echo-test-ended"
    reason: Literal["stopped", "time-limit", "disconnected", "shutdown"]


class IceServer(Message):
    """One entry of `RTCConfiguration.iceServers`; TURN entries carry time-limited credentials
    (coturn's TURN REST API: `username` is `<expiry unix time>:<user id>`)."""

    urls: list[str]
    username: str | None = Field(None, exclude_if=_absent_when_none)
    credential: str | None = Field(None, exclude_if=_absent_when_none)


class IceServers(Message):
    """The answer to `get-ice-servers` (and the body of `GET /v1/ice-servers`): pass
    `ice_servers` as `RTCConfiguration.iceServers`; ask again before `expires_at`. An empty list
    means no servers are configured (host candidates only)."""

    type: Literal["ice-servers"] = "ice-servers"
    ice_servers: list[IceServer]
    expires_at: datetime


class Move(Message):
    """The room is moving to another signaling process (this one drains or lost the room in a
    rebalance): reconnect through the gateway now, with `join.resume`. The socket is then
    closed with 4012. Media is not touched: the peer connection stays up meanwhile."""

    type: Literal["move"] = "move"
    reason: Literal["draining", "rebalance"]


class Pong(Message):
    """The answer to `ping`."""

    type: Literal["pong"] = "pong"


class Error(Message):
    """A message was refused; the connection stays open."""

    type: Literal["error"] = "error"
    code: ErrorCode
    message: str


ServerMessage = Annotated[
    Waiting
    | Move
    | WaitingRoom
    | Joined
    | PeerJoined
    | PeerLeft
    | ClinicianStatus
    | PeerReconnecting
    | PeerBack
    | SentBack
    | Declined
    | Ended
    | RelayedOffer
    | RelayedAnswer
    | RelayedIceCandidate
    | IceServers
    | GoalUpdated
    | ChatMessage
    | EchoTestAnswer
    | EchoTestEnded
    | Pong
    | Error,
    Field(discriminator="type"),
]

server_messages: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)


class HeldRoom(BaseModel):
    """One live room of this process, for operators (``GET /ops/rooms``): no names, no SDP."""

    session_id: uuid.UUID
    participants: int


class HeldRooms(BaseModel):
    """The live rooms this signaling process holds (the gateway routes each session id to
    exactly one process)."""

    rooms: list[HeldRoom]


def relayed(
    message: RelayMessage, sender: uuid.UUID
) -> RelayedOffer | RelayedAnswer | RelayedIceCandidate:
    """``message`` as the other members receive it: the same object plus ``from``."""
    if isinstance(message, Offer):
        return RelayedOffer(sdp=message.sdp, to=message.to, from_=sender)
    if isinstance(message, Answer):
        return RelayedAnswer(sdp=message.sdp, to=message.to, from_=sender)
    return RelayedIceCandidate(candidate=message.candidate, to=message.to, from_=sender)
