"""The steps end-to-end tests share: accounts, a booked session, participants in a live call.

Everything goes through the gateway, as a browser or a partner would go.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import httpx

from tests.e2e.peers import Participant
from tests.e2e.system import RapportSystem

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout: float = 30.0, interval: float = 0.2
) -> T:
    """Poll ``probe`` until it returns something truthy (events take a moment to flow)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            name = getattr(probe, "__name__", "probe")
            raise AssertionError(f"not reached within {timeout}s: {name}")
        await asyncio.sleep(interval)


@dataclass
class User:
    id: str
    email: str
    access_token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


async def log_in(http: httpx.AsyncClient, email: str, password: str) -> User:
    response = await http.post("/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    return User(id=body["user"]["id"], email=email, access_token=body["access_token"])


async def sign_up(http: httpx.AsyncClient, role: str, password: str = "correct horse e2e") -> User:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    registered = await http.post(
        "/v1/auth/register",
        json={"email": email, "password": password, "display_name": f"E2E {role}", "role": role},
    )
    assert registered.status_code == 201, registered.text
    return await log_in(http, email, password)


async def create_admin(rapport: RapportSystem, http: httpx.AsyncClient) -> User:
    """An admin, created with identity's own command as an operator would."""
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    await asyncio.to_thread(
        rapport.run_cli,
        "identity",
        "create-user",
        "--email",
        email,
        "--password",
        "admin password 1",
        "--display-name",
        "Ops",
        "--role",
        "admin",
    )
    return await log_in(http, email, "admin password 1")


async def book(
    http: httpx.AsyncClient, clinician: User, client: User, **extra: Any
) -> dict[str, Any]:
    """A session for ``client`` starting a minute ago (records learns about the client from
    identity's event, so booking retries until it has)."""
    starts = datetime.now(UTC) - timedelta(minutes=1)

    async def booked() -> dict[str, Any] | None:
        response = await http.post(
            "/v1/appointments",
            headers=clinician.headers,
            json={
                "client_id": client.id,
                "starts_at": starts.isoformat(),
                "ends_at": (starts + timedelta(minutes=50)).isoformat(),
                **extra,
            },
        )
        if response.status_code == 422 and "unknown client" in response.text:
            return None
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    return await eventually(booked)


async def signaling_token(http: httpx.AsyncClient, user: User, session_id: str) -> str:
    response = await http.post(
        "/v1/signaling-tokens", headers=user.headers, json={"session_id": session_id}
    )
    assert response.status_code in (200, 201), response.text
    token: str = response.json()["token"]
    return token


def signal_url(rapport: RapportSystem, session_id: str) -> str:
    """The gateway's signaling WebSocket for ``session_id`` (the query routes the room)."""
    return rapport.gateway_url.replace("http://", "ws://") + f"/v1/signal?session_id={session_id}"


async def participant(
    rapport: RapportSystem, http: httpx.AsyncClient, user: User, session_id: str, name: str
) -> Participant:
    """A participant of ``session_id`` with a fresh signaling token, not yet connected."""
    return Participant(
        name, signal_url(rapport, session_id), await signaling_token(http, user, session_id)
    )


async def check_in(peer: Participant, display_name: str) -> dict[str, Any]:
    """Join, retrying while signaling does not know the session yet (4004: records' event is
    still on its way). Returns the first answer (``waiting`` or ``joined``)."""

    async def joined() -> dict[str, Any] | None:
        try:
            return await peer.connect(display_name)
        except ConnectionError as closed:
            assert "4004" in str(closed), closed
            await peer.close_socket()
            return None

    return await eventually(joined)


async def join_as_clinician(clinician: Participant, waiting_client_id: str) -> None:
    """The clinician joins and sees ``waiting_client_id`` in the waiting room (in `joined`, or
    in a `waiting-room` update if the client's arrival raced the clinician's)."""
    joined = await clinician.connect("Dr. Lee")
    assert joined["type"] == "joined" and joined["polite"] is False, joined
    waiting = [w["user_id"] for w in joined.get("waiting") or []]
    while waiting_client_id not in waiting:
        waiting = [w["user_id"] for w in (await clinician.expect("waiting-room"))["waiting"]]


async def admit(clinician: Participant, client: Participant, client_id: str) -> None:
    """The clinician admits ``client`` (who is waiting) and both see it."""
    await clinician.send({"type": "admit", "user_id": client_id})
    admitted = await client.expect("joined")
    assert admitted["polite"] is True
    peer_joined = await clinician.expect("peer-joined")
    assert peer_joined["peer"]["user_id"] == client_id


async def frames_flow(*peers: Participant, at_least: int = 10, timeout: float = 45.0) -> None:
    """Wait until every peer has received ``at_least`` more video frames than now."""
    start = {id(p): p.frames_received for p in peers}

    async def flowing() -> bool:
        return all(p.frames_received - start[id(p)] >= at_least for p in peers)

    await eventually(flowing, timeout=timeout)
