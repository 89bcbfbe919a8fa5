"""Deactivation reaches everyone (issue 3): a user in a live call is cut off within seconds.

An admin deactivates a client who is in a video call with real aiortc peers through the
gateway. Within 5 seconds their signaling socket is closed with 4401 and the access token they
still hold is refused at the gateway, although it has not expired.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.e2e.flows import (
    admit,
    book,
    check_in,
    create_admin,
    frames_flow,
    join_as_clinician,
    participant,
    sign_up,
)
from tests.e2e.system import RapportSystem

pytestmark = pytest.mark.e2e

REVOKED = 4401
# The requirement, not a benchmark: both must hold within this long after the admin's request.
WITHIN_SECONDS = 5.0


async def test_a_deactivated_user_is_disconnected_and_refused_within_5_seconds(
    rapport: RapportSystem,
) -> None:
    async with httpx.AsyncClient(base_url=rapport.gateway_url, timeout=15) as http:
        clinician = await sign_up(http, "clinician")
        client = await sign_up(http, "client")
        admin = await create_admin(rapport, http)
        session_id = (await book(http, clinician, client))["session_id"]

        client_peer = await participant(rapport, http, client, session_id, "client")
        clinician_peer = await participant(rapport, http, clinician, session_id, "clinician")
        try:
            assert (await check_in(client_peer, "Sam"))["type"] == "waiting"
            await join_as_clinician(clinician_peer, client.id)
            await admit(clinician_peer, client_peer, client.id)
            await clinician_peer.offer()
            await clinician_peer.expect("answer")
            await frames_flow(clinician_peer, client_peer)
            # The client's access token works at the gateway before the deactivation.
            before = await http.get("/v1/appointments", headers=client.headers)
            assert before.status_code == 200, before.text

            loop = asyncio.get_running_loop()
            deactivated = await http.post(
                f"/v1/users/{client.id}/deactivate", headers=admin.headers
            )
            assert deactivated.status_code == 200, deactivated.text
            deadline = loop.time() + WITHIN_SECONDS

            async with asyncio.timeout_at(deadline):
                closed = await client_peer.expect("__closed__", timeout=WITHIN_SECONDS)
            assert closed["code"] == REVOKED
            left = await clinician_peer.expect("peer-left")
            assert left["user_id"] == client.id

            # Polled with the same deadline: the gateway hears of it on its own.
            refused = None
            while loop.time() < deadline:
                response = await http.get("/v1/appointments", headers=client.headers)
                if response.status_code == 401:
                    refused = response
                    break
                await asyncio.sleep(0.1)
            assert refused is not None, "the old access token still works after 5 seconds"
            assert refused.json()["error"] == "Unauthorized"

            # The clinician's side of the call is unaffected.
            await clinician_peer.send({"type": "ping"})
            await clinician_peer.expect("pong")
        finally:
            await client_peer.close()
            await clinician_peer.close()
