"""One video session across every service, each running as its own process.

Real Kafka broker, real PostgreSQL, real aiortc peers exchanging video through signaling
behind the gateway, and a real HTTP receiver verifying the signed webhook.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.e2e.peers import Participant
from tests.e2e.system import RapportSystem, free_port

pytestmark = pytest.mark.e2e

NOTE_TEXT = "Talked about the night shifts and the panic on the night bus"


class WebhookReceiver:
    """A partner's endpoint: stores every request it gets."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hooks/rapport"

        async def receive(request: Request) -> Response:
            self.requests.append((dict(request.headers), await request.body()))
            return Response(status_code=204)

        app = Starlette(routes=[Route("/hooks/rapport", receive, methods=["POST"])])
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )


@pytest.fixture
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    task = asyncio.create_task(receiver.server.serve())
    while not receiver.server.started:
        await asyncio.sleep(0.05)
    yield receiver
    receiver.server.should_exit = True
    await task


async def _eventually(probe, timeout: float = 30.0, interval: float = 0.2) -> Any:  # type: ignore[no-untyped-def]
    """Poll ``probe`` until it returns something truthy (events take a moment to flow)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not reached within {timeout}s: {probe.__name__}")
        await asyncio.sleep(interval)


async def _sign_up(http: httpx.AsyncClient, role: str, password: str) -> dict[str, Any]:
    email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
    registered = await http.post(
        "/v1/auth/register",
        json={"email": email, "password": password, "display_name": f"E2E {role}", "role": role},
    )
    assert registered.status_code == 201, registered.text
    return await _log_in(http, email, password)


async def _log_in(http: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    response = await http.post("/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body = response.json()
    return {
        "id": body["user"]["id"],
        "headers": {"Authorization": f"Bearer {body['access_token']}"},
        "access_token": body["access_token"],
        "refresh_token": body["refresh_token"],
    }


async def test_a_video_session_crosses_every_service(
    rapport: RapportSystem, webhook_receiver: WebhookReceiver
) -> None:
    async with httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http:
        clinician = await _sign_up(http, "clinician", "correct horse battery")
        client = await _sign_up(http, "client", "staple paper clip")

        admin_email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
        await asyncio.to_thread(
            rapport.run_cli,
            "identity",
            "create-user",
            "--email",
            admin_email,
            "--password",
            "admin password 1",
            "--display-name",
            "Ops",
            "--role",
            "admin",
        )
        admin = await _log_in(http, admin_email, "admin password 1")
        for name, user in [("clinician", clinician), ("client", client), ("admin", admin)]:
            rapport.must_never_log(f"the {name}'s access token", user["access_token"])
            rapport.must_never_log(f"the {name}'s refresh token", user["refresh_token"])
        endpoint = await http.post(
            "/v1/webhook-endpoints",
            headers=admin["headers"],
            json={
                "url": webhook_receiver.url,
                "event_types": ["session.*"],
                "description": "e2e partner",
            },
        )
        assert endpoint.status_code == 201, endpoint.text
        secret = endpoint.json()["secret"]

        # Records learns about the client from identity's event; booking waits for that.
        starts = datetime.now(UTC) - timedelta(minutes=1)

        async def book() -> dict[str, Any] | None:
            response = await http.post(
                "/v1/appointments",
                headers=clinician["headers"],
                json={
                    "client_id": client["id"],
                    "starts_at": starts.isoformat(),
                    "ends_at": (starts + timedelta(minutes=50)).isoformat(),
                },
            )
            if response.status_code == 422 and "unknown client" in response.text:
                return None
            assert response.status_code == 201, response.text
            return response.json()

        appointment = await _eventually(book)
        session_id = appointment["session_id"]

        async def signaling_token(user: dict[str, Any]) -> str:
            response = await http.post(
                "/v1/signaling-tokens", headers=user["headers"], json={"session_id": session_id}
            )
            assert response.status_code in (200, 201), response.text
            token: str = response.json()["token"]
            rapport.must_never_log("a signaling token", token)
            return token

        ws_url = (
            rapport.gateway_url.replace("http://", "ws://") + f"/v1/signal?session_id={session_id}"
        )
        # This client also puts its token in the URL, as a WebSocket client that cannot set
        # headers might: no log may keep it (checked when the system stops, conftest.py).
        client_token = await signaling_token(client)
        client_peer = Participant("client", f"{ws_url}&token={client_token}", client_token)
        clinician_peer = Participant("clinician", ws_url, await signaling_token(clinician))
        try:
            # Signaling learns about the appointment from records' event; joining waits for that.
            async def client_checks_in() -> dict[str, Any] | None:
                try:
                    return await client_peer.connect("Sam")
                except ConnectionError as closed:
                    assert "4004" in str(closed), closed  # unknown session (not yet projected)
                    await client_peer.ws.close()  # type: ignore[union-attr]
                    client_peer.messages = asyncio.Queue()
                    return None

            waiting = await _eventually(client_checks_in)
            assert waiting["type"] == "waiting"

            joined = await clinician_peer.connect("Dr. Lee")
            assert joined["type"] == "joined" and joined["polite"] is False
            waiting_ids = [w["user_id"] for w in joined.get("waiting", [])]
            if client["id"] not in waiting_ids:
                room = await clinician_peer.expect("waiting-room")
                waiting_ids = [w["user_id"] for w in room["waiting"]]
            assert client["id"] in waiting_ids

            await clinician_peer.send({"type": "admit", "user_id": client["id"]})
            admitted = await client_peer.expect("joined")
            assert admitted["polite"] is True
            peer_joined = await clinician_peer.expect("peer-joined")
            assert peer_joined["peer"]["user_id"] == client["id"]

            await clinician_peer.offer()
            await clinician_peer.expect("answer")

            async def both_see_video() -> bool:
                return clinician_peer.frames_received >= 10 and client_peer.frames_received >= 10

            await _eventually(both_see_video, timeout=45)
            assert client_peer.candidates_received > 0 and clinician_peer.candidates_received > 0
            await clinician_peer.send({"type": "connected"})
            await client_peer.send({"type": "connected"})

            for clinical_text in ["Sleep through the night", "Slept better twice", NOTE_TEXT]:
                rapport.must_never_log("clinical text", clinical_text)
            goal = await http.post(
                "/v1/goals",
                headers=clinician["headers"],
                json={"client_id": client["id"], "statement": "Sleep through the night"},
            )
            assert goal.status_code == 201, goal.text
            # Two-party agreement: the goal is active once the client agrees to it too.
            agreed = await http.post(
                f"/v1/goals/{goal.json()['id']}/agreement", headers=client["headers"]
            )
            assert agreed.status_code == 200, agreed.text
            assert agreed.json()["status"] == "active"
            update = await http.post(
                f"/v1/goals/{goal.json()['id']}/updates",
                headers=clinician["headers"],
                json={"session_id": session_id, "progress": 6, "note": "Slept better twice"},
            )
            assert update.status_code == 201, update.text
            note = await http.post(
                "/v1/notes",
                headers=clinician["headers"],
                json={
                    "client_id": client["id"],
                    "session_id": session_id,
                    "visibility": "private",
                    "text": NOTE_TEXT,
                },
            )
            assert note.status_code == 201, note.text

            await asyncio.sleep(1.0)  # a session that lasted a little while
            await clinician_peer.send({"type": "end"})
            ended = await client_peer.expect("ended")
            assert ended["reason"] == "ended"
            assert (await client_peer.expect("__closed__"))["code"] == 4008
            assert (await clinician_peer.expect("__closed__"))["code"] == 4008
        finally:
            await client_peer.close()
            await clinician_peer.close()

        async def completed_record() -> dict[str, Any] | None:
            response = await http.get(f"/v1/sessions/{session_id}", headers=clinician["headers"])
            assert response.status_code == 200, response.text
            record = response.json()
            return record if record["status"] == "completed" else None

        record = await _eventually(completed_record)
        # Tokens in a URL's query string, as a careless partner's client might send them.
        leaky = await http.get(
            f"/v1/sessions/{session_id}",
            headers=clinician["headers"],
            params={
                "access_token": clinician["access_token"],
                "refresh_token": clinician["refresh_token"],
            },
        )
        assert leaky.status_code == 200, leaky.text
        attendees = {a["user_id"]: a for a in record["attendees"]}
        assert set(attendees) == {clinician["id"], client["id"]}
        assert attendees[client["id"]]["role"] == "client"
        assert all(a["joined_at"] and a["left_at"] for a in attendees.values())
        for moment in ["checked_in_at", "admitted_at", "connected_at", "ended_at"]:
            assert record[moment], f"{moment} missing from {record}"
        assert record["checked_in_at"] <= record["admitted_at"] <= record["ended_at"]
        assert record["duration_seconds"] >= 1
        assert record["outcome"] == "completed"
        assert [u["id"] for u in record["goal_updates"]] == [update.json()["id"]]
        assert record["goal_updates"][0]["progress"] == 6

    async def completed_webhook() -> tuple[dict[str, str], bytes] | None:
        for headers, body in webhook_receiver.requests:
            if json.loads(body)["type"] == "session.completed":
                return headers, body
        return None

    headers, body = await _eventually(completed_webhook)
    payload = Webhook(secret).verify(body, headers)  # raises if the signature is wrong
    assert payload["data"]["session_id"] == session_id
    assert payload["data"]["outcome"] == "completed"
    assert headers["webhook-id"].startswith("msg_")
    assert b"Slept better" not in body and b"Sleep through" not in body
    with pytest.raises(Exception, match="(?i)signature"):
        Webhook(secret).verify(body.replace(b"completed", b"cancelled"), headers)
