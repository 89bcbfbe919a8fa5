"""Deactivation reaches everyone: a user in a live call is cut off.

An admin deactivates a client who is in a video call with real aiortc peers through the
gateway. Their signaling socket is closed with 4401 and the access token they still hold is
refused at the gateway, although it has not expired. The test waits for both to happen; its
bound only catches a hang (an access token lives 15 minutes, far longer than the bound, so
a refusal is the revocation's doing, not the token's expiry).
"""

from __future__ import annotations

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
from tests.support.waiting import HANG_SECONDS, not_hung, until

pytestmark = pytest.mark.e2e

REVOKED = 4401


async def test_a_deactivated_user_is_disconnected_and_refused(
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

            deactivated = await http.post(
                f"/v1/users/{client.id}/deactivate", headers=admin.headers
            )
            assert deactivated.status_code == 200, deactivated.text

            async with not_hung("closing the deactivated client's signaling socket"):
                closed = await client_peer.expect("__closed__", timeout=HANG_SECONDS)
            assert closed["code"] == REVOKED
            left = await clinician_peer.expect("peer-left")
            assert left["user_id"] == client.id

            # The gateway hears of it on its own (from the revocation event, not from us).
            answers: list[httpx.Response] = []

            async def refused() -> bool:
                answers.append(await http.get("/v1/appointments", headers=client.headers))
                return answers[-1].status_code == 401

            await until(refused, "the gateway refuses the old access token", interval=0.1)
            assert answers[-1].json()["error"] == "Unauthorized"
            assert {a.status_code for a in answers[:-1]} <= {200}

            # The clinician's side of the call is unaffected.
            await clinician_peer.send({"type": "ping"})
            await clinician_peer.expect("pong")
        finally:
            await client_peer.close()
            await clinician_peer.close()
