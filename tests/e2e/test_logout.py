"""Logging out ends that sign-in everywhere, and only that one.

A client signed in on two devices is in a call from the phone (with real aiortc peers, through
the gateway and two signaling processes) and waiting for another session from the laptop. The
phone logs out: its signaling socket is closed with 4401 and its access token, not yet expired,
is refused at the gateway; the laptop's socket and tokens keep working.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.e2e.flows import (
    User,
    admit,
    book,
    check_in,
    eventually,
    join_as_clinician,
    participant,
    sign_up,
)
from tests.e2e.system import RapportSystem
from tests.support.waiting import HANG_SECONDS

pytestmark = pytest.mark.e2e

REVOKED = 4401
PASSWORD = "correct horse e2e"


async def _sign_in(http: httpx.AsyncClient, email: str) -> tuple[User, str]:
    """Another sign-in of an existing account: its user and its refresh token."""
    response = await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    body = response.json()
    return User(body["user"]["id"], email, body["access_token"]), body["refresh_token"]


async def test_a_logout_closes_that_sign_ins_socket_and_refuses_its_token_only(
    rapport: RapportSystem,
) -> None:
    async with httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http:
        clinician = await sign_up(http, "clinician", PASSWORD)
        other_clinician = await sign_up(http, "clinician", PASSWORD)
        laptop = await sign_up(http, "client", PASSWORD)
        phone, phone_refresh = await _sign_in(http, laptop.email)
        session_id = (await book(http, clinician, phone))["session_id"]
        other_session = (await book(http, other_clinician, laptop))["session_id"]

        on_phone = await participant(rapport, http, phone, session_id, "phone")
        clinician_peer = await participant(rapport, http, clinician, session_id, "clinician")
        on_laptop = await participant(rapport, http, laptop, other_session, "laptop")
        try:
            assert (await check_in(on_phone, "Sam"))["type"] == "waiting"
            await join_as_clinician(clinician_peer, phone.id)
            await admit(clinician_peer, on_phone, phone.id)
            await clinician_peer.offer()
            await clinician_peer.expect("answer")
            assert (await check_in(on_laptop, "Sam"))["type"] == "waiting"
            before = await http.get("/v1/appointments", headers=phone.headers)
            assert before.status_code == 200, before.text

            out = await http.post("/v1/auth/logout", json={"refresh_token": phone_refresh})
            assert out.status_code == 204, out.text

            closed = await on_phone.expect("__closed__", timeout=HANG_SECONDS)
            assert closed["code"] == REVOKED
            left = await clinician_peer.expect("peer-left", timeout=HANG_SECONDS)
            assert left["user_id"] == phone.id

            async def refused() -> httpx.Response | None:
                response = await http.get("/v1/appointments", headers=phone.headers)
                return response if response.status_code == 401 else None

            refusal = await eventually(refused, timeout=HANG_SECONDS, interval=0.1)
            assert refusal.json() == {"error": "Unauthorized", "detail": "token revoked"}
            # Nor can the ended sign-in get a new signaling token to come back with.
            again = await http.post(
                "/v1/signaling-tokens", headers=phone.headers, json={"session_id": session_id}
            )
            assert again.status_code == 401

            # The laptop is another sign-in of the same user: its socket and token still work.
            await on_laptop.send({"type": "ping"})
            await on_laptop.expect("pong")
            still = await http.get("/v1/appointments", headers=laptop.headers)
            assert still.status_code == 200, still.text
            # And the clinician's side of the call goes on.
            await clinician_peer.send({"type": "ping"})
            await clinician_peer.expect("pong")
        finally:
            await asyncio.gather(on_phone.close(), clinician_peer.close(), on_laptop.close())
